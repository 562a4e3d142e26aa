DROP TABLE signin_used_states;
