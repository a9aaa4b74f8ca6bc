"""One module per resource; each route translates, calls one function, translates back."""
