"""Fieldwork settings (``FSM_FIELDWORK_*``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import ServiceSettings


class FieldworkSettings(ServiceSettings):
    """Settings of the fieldwork service."""

    model_config = SettingsConfigDict(env_prefix="FSM_FIELDWORK_", extra="ignore")

    service_name: str = "fieldwork"
    port: int = Field(default=8003, ge=1, le=65535)
    http_max_body_bytes: int = Field(
        default=16 * 1_048_576,
        ge=1_024,
        description="Largest request body: photos and signatures are uploaded here (at most the "
        "policy's upload_max_bytes, which must fit).",
    )
    evidence_dir: Path | None = Field(
        default=None,
        description="Where uploaded photos, barcodes and signatures are stored; "
        "default <data_dir>/fieldwork/evidence.",
    )
    report_font: Path | None = Field(
        default=None,
        description="A TrueType CJK font (.ttf/.ttc) for the service report; default: the first "
        "installed of Debian's fonts-wqy-microhei, fonts-wqy-zenhei, fonts-droid-fallback.",
    )
    sweep_every_seconds: float = Field(
        default=300,
        gt=0,
        description="How often overdue take-backs and coordination tickets are checked.",
    )

    @property
    def resolved_evidence_dir(self) -> Path:
        """The evidence directory."""
        return self.evidence_dir or self.data_dir / "fieldwork" / "evidence"


@lru_cache
def get_settings() -> FieldworkSettings:
    """Settings read once from the environment."""
    return FieldworkSettings()
