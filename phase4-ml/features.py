"""The seed layout's path of the shared feature definitions, kept importable.

The definitions are part of the platform's contract layer and live in
:mod:`fraud_contracts.features` (``libs/contracts/fraud_contracts/features.py``): dbt,
training and serving all hold to that one module. ``import features`` gives the same
module object.
"""

import sys

from fraud_contracts import features

sys.modules[__name__] = features
