"""The top layer: the `riskstream` command, the demo, the docs generator, training and broker evaluation.

Nothing below imports this package.
"""
