//! Pure history checkers. No simulator here: these judge histories recorded anywhere.
