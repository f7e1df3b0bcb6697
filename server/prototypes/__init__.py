"""The seven prototypes' server-side behaviour, one module each; ``registry`` maps their ids to them."""
