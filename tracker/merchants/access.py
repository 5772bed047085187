"""Who may see and change which parcel, and how much of it (pure).

The rules of the parcel API (:mod:`tracker.merchants.views`):

* **ops and admin** see every parcel, unmasked;
* **a merchant** sees and changes only the parcels it registered
  (``parcels.merchant_code``); another merchant's parcel answers exactly
  like an unknown one (the same 404 body), so nothing tells them apart;
* **a courier** sees the parcels on its route today (the latest plan of its
  station for the local day) and those it scanned today, and nothing else.
  It gets the full delivery address on both, the recipient's name masked
  (``张*丰``) and the phone in full only on its route today, where it may
  have to call; a parcel it only scanned shows the phone as the public
  page does (``138********``).

A correction or a cancellation is taken only while the parcel has not left
the warehouse: no live (not voided) scan of a type in :data:`LEFT_WAREHOUSE`.
After that the parcel is the network's, and a change would contradict what
couriers hold in their hands.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracker.core.errors import Conflict, Forbidden
from tracker.core.vocabulary import EventType, Role
from tracker.keys.principal import Principal
from tracker.tracking.masking import mask_name, mask_phone

#: Scans that mean the parcel has left its origin warehouse (``outbound``, ``departed``)
#: or could only happen after it has (a delivery attempt, a handover, a return).
LEFT_WAREHOUSE = frozenset(
    {
        EventType.OUTBOUND,
        EventType.DEPARTED,
        EventType.OUT_FOR_DELIVERY,
        EventType.DELIVERY_FAILED,
        EventType.DELIVERED,
        EventType.READY_FOR_PICKUP,
        EventType.COLLECTED,
        EventType.RETURNED,
    }
)


class ParcelLeftWarehouse(Conflict):
    code = "parcel_left_warehouse"


class ParcelCancelled(Conflict):
    code = "parcel_cancelled"


def check_bound(principal: Principal) -> None:
    """Refuse a merchant key bound to no merchant (made before merchants were records).

    Its parcels would belong to nobody and it could read none of them: it is
    told how to get a key that works instead.
    """
    if principal.role is Role.MERCHANT and not principal.merchant_code:
        raise Forbidden(
            "this merchant key is bound to no merchant; create one that is:"
            " tracker keys create --role merchant --merchant CODE"
        )


def has_left_warehouse(scan_types: Iterable[str]) -> bool:
    return any(t in LEFT_WAREHOUSE for t in scan_types)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def courier_recipient(name: str | None, phone: str | None, *, on_route: bool) -> dict[str, str | None]:
    """What a courier sees of the recipient: the name masked; the phone in full on its route today."""
    return {"name": mask_name(name), "phone": phone if on_route else mask_phone(phone)}


#: A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection");
#: tab and carriage return start one too in some programs.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell Excel will not run: text that could start a formula gets a ``'`` in front.

    Numbers stay numbers (a negative longitude is a number, not a formula).
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
