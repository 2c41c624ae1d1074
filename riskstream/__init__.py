"""riskstream: streaming risk detection for online marketplaces.

The pure core (contracts, policy, decisions, simulator, evaluation) lives here;
`detectors/` and `models/` hold the detection units and `stream/` the Kafka glue.
"""

__version__ = "0.1.0"
