"""Request and response bodies of the scoring API (the OpenAPI contract at /docs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from serving.feature_store.base import FeatureSource

#: transactions per ``POST /predict/batch`` request
BATCH_MAX: Final = 1_000
#: identifiers: 1-64 printable ASCII characters without spaces (no control bytes reach logs/DB)
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")]

_EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if not _EARLIEST <= aware < _LATEST:
        raise ValueError("event_time must be between 2000-01-01 and 2100-01-01")
    return aware.astimezone(dt.UTC)


class PredictRequest(BaseModel):
    """One card transaction to score (the fields of the ``transactions.raw`` record)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "transaction_id": "5b7c1f0e-2d4a-4e8b-9a51-0c3e9f7d2a11",
                    "user_id": "U000123",
                    "amount": 42.5,
                    "merchant_id": "M00042",
                    "is_international": False,
                    "event_time": "2026-03-01T12:30:00Z",
                }
            ]
        },
    )

    transaction_id: Ident
    user_id: Ident
    amount: float = Field(gt=0, le=1e9, allow_inf_nan=False, description="amount charged")
    merchant_id: Ident = Field(description="terminal id")
    is_international: bool
    event_time: Annotated[dt.datetime, AfterValidator(_utc)] | None = Field(
        default=None, description="authorisation time (UTC if no offset); default: now"
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    channel: Literal["pos", "ecom"] | None = None


class BatchRequest(BaseModel):
    transactions: list[PredictRequest] = Field(min_length=1, max_length=BATCH_MAX)


class Reason(BaseModel):
    feature: str
    value: float
    contribution: float = Field(
        description="score drop if this feature were at its no-history default"
    )


class PredictResponse(BaseModel):
    transaction_id: str
    fraud_probability: float
    risk_tier: Literal["low", "medium", "high"]
    model_version: str
    latency_ms: float
    feature_source: FeatureSource
    top_reasons: list[Reason]


class BatchResponse(BaseModel):
    predictions: list[PredictResponse]
