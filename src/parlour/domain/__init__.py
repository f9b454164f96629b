"""Pure booking rules: models, opening hours and slot arithmetic. No I/O, no clock reads."""
