-- Personal data kept encrypted at rest: the phone number, sealed by the vault
-- (`<key id>:<base64>`), NULL when the account holder gave none.
ALTER TABLE users ADD COLUMN phone_sealed TEXT;
