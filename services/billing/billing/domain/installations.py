"""Installations the platform completed, kept by product serial: a later order for the same
unit whose installation date nobody gave is priced by it (BIL-5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


def serial_key(serial: str | None) -> str:
    """A serial as units are compared by it: without spaces and case-folded, as intake tells
    the same unit (INT-8); empty when there is none."""
    return "".join((serial or "").split()).casefold()


@dataclass(frozen=True)
class Installation:
    """The unit ``serial`` of ``product_line`` was installed by order ``order_id``."""

    order_id: str
    product_line: str
    serial: str
    installed_on: date

    @property
    def serial_key(self) -> str:
        """The serial as compared (see ``serial_key``)."""
        return serial_key(self.serial)

    @property
    def note(self) -> str:
        """Where a quote's installation date came from, for its set-up line (BIL-5)."""
        return (
            f"installed on {self.installed_on.isoformat()} by order {self.order_id} "
            f"(same unit, serial {self.serial})"
        )


def installation_of(
    installations: Iterable[Installation],
    *,
    product_line: str | None,
    serial: str | None,
    by: date,
) -> Installation | None:
    """The latest installation of the unit ``serial`` of ``product_line`` done by ``by``."""
    key = serial_key(serial)
    if not key or not product_line:
        return None
    same_unit = [
        i
        for i in installations
        if i.product_line == product_line and i.serial_key == key and i.installed_on <= by
    ]
    return max(same_unit, key=lambda i: i.installed_on, default=None)
