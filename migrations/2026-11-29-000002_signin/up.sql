-- Sign-in states already used at the OAuth callback (spec §3.5). The pending
-- sign-in itself travels in a sealed cookie; only the SHA-256 of its state is
-- kept here, until the cookie could no longer be accepted anyway, so each
-- state is honoured once even on another replica.
CREATE TABLE signin_used_states (
    state_hash BYTEA PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX signin_used_states_expires_at ON signin_used_states (expires_at);
