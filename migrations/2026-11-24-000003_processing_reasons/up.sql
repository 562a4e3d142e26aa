-- Why a type failed, in words a researcher can act on (spec donation.md §5.9:
-- `error_message` names the failed types, the member and the cause), beside
-- the reason code. Free of personal data and provider response bodies: the
-- archive parser's reasons name members, byte offsets and limits only.
ALTER TABLE part_type_results ADD COLUMN reason_detail TEXT;
ALTER TABLE donation_types ADD COLUMN reason_detail TEXT;
