from ledger.aggregates.enterprise import (
    CHANNELS,
    OUTCOMES,
    PLACE_TYPES,
    Enterprise,
    enterprise_id,
)

__all__ = ["CHANNELS", "OUTCOMES", "PLACE_TYPES", "Enterprise", "enterprise_id"]
