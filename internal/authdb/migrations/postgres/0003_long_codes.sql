-- Whether a challenge's code is a long code (10 symbols, given while the
-- address's six-digit guesses are spent): the server counts its attempts
-- by the flow's kind, not by how a guess is written.
ALTER TABLE login_challenges ADD COLUMN long_code boolean NOT NULL DEFAULT false;
