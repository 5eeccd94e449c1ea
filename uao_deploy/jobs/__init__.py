"""The jobs a user runs: lifting files, evaluation, training, cross-backend checks."""
