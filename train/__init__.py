"""train: the pmap'd program that trains the models of `archs` (see BUILD.md, "The training program")."""
