"""IR -> IR passes: a Net in, a Net out (simplify, jacobian), so every emitter and check applies."""
