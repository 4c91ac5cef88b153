"""How many connection leases of a shared per-host cap a Downloader holds.

Pure bookkeeping, no I/O: the Downloader tells the book what each host
needs (connections in use, plus those its waiting files want) and the book
says how many leases to ask for and, later, how many to give back.

- A lease per connection: leases are asked for as connections are wanted,
  never more than ``most`` per host held or asked at once; requests the
  files no longer call for are withdrawn.
- A lease goes back only once its connection is closed: what is given back
  never leaves fewer leases than connections open (idle kept ones count: a
  server counts them) or than connections needed.
- Spare leases (held beyond what is needed) are kept ``keep_spare_for``
  seconds first: the next file of a batch often wants the connection at once.
- A host held down by refusals parks its leases: they stay held, unused,
  while the host still has work here, so that no other process opens the
  connections the server just refused; the book then asks for none.

Example::

    book = LeaseBook(most=8, keep_spare_for=0.5)
    book.to_ask("h:21", needed=3, held_down=False)   # 3
    book.granted("h:21"); book.held("h:21")           # 1
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LeaseBook"]


@dataclass
class _Account:
    held: int = 0
    asking: int = 0
    spare_since: float | None = None


class LeaseBook:
    """Leases held and asked for, per host ("host:port")."""

    def __init__(self, most: int, keep_spare_for: float) -> None:
        if most < 1 or keep_spare_for < 0:
            raise ValueError("most must be >= 1 and keep_spare_for >= 0")
        self.most = most
        self.keep_spare_for = keep_spare_for
        self._accounts: dict[str, _Account] = {}

    def held(self, key: str) -> int:
        account = self._accounts.get(key)
        return account.held if account is not None else 0

    def asking(self, key: str) -> int:
        account = self._accounts.get(key)
        return account.asking if account is not None else 0

    def hosts(self) -> list[str]:
        """Hosts with leases held or asked for."""
        return list(self._accounts)

    def holds_any(self) -> bool:
        return any(account.held for account in self._accounts.values())

    def to_ask(self, key: str, needed: int, *, held_down: bool) -> int:
        """Leases to ask for now, for ``needed`` connections to ``key``;
        counted as asked from here on."""
        if held_down:
            return 0
        account = self._accounts.get(key)
        held, asking = (account.held, account.asking) if account is not None else (0, 0)
        count = min(needed, self.most) - held - asking
        if count <= 0:
            return 0
        if account is None:
            account = self._accounts[key] = _Account()
        account.asking += count
        return count

    def to_withdraw(self, key: str, needed: int) -> int:
        """Requests of ``key`` out beyond what ``needed`` connections call
        for: to be withdrawn (``not_granted`` each)."""
        account = self._accounts.get(key)
        if account is None:
            return 0
        return max(0, account.asking - max(0, min(needed, self.most) - account.held))

    def granted(self, key: str) -> None:
        """One lease asked for came."""
        account = self._account(key, asking=True)
        account.asking -= 1
        account.held += 1

    def not_granted(self, key: str) -> None:
        """One lease asked for will not come (its request failed or ended)."""
        account = self._account(key, asking=True)
        account.asking -= 1
        self._drop_if_empty(key)

    def spare(self, key: str, needed: int, now: float, *, parked: bool) -> int:
        """Leases of ``key`` held beyond ``needed`` for ``keep_spare_for``
        seconds (0 until then). ``parked``: the host is held down by
        refusals; its leases stay while it still has work here."""
        account = self._accounts.get(key)
        if account is None:
            return 0
        keep = account.held if parked and needed else min(needed, self.most)
        extra = account.held - keep
        if extra <= 0:
            account.spare_since = None
            return 0
        if account.spare_since is None:
            account.spare_since = now
        if now - account.spare_since < self.keep_spare_for:
            return 0
        return extra

    def to_give_back(self, key: str, needed: int, open_connections: int) -> int:
        """Leases of ``key`` that cover neither a needed connection nor an
        open one: to be given back."""
        return max(0, self.held(key) - max(min(needed, self.most), open_connections))

    def given_back(self, key: str, count: int) -> None:
        account = self._account(key, asking=False)
        if not 0 <= count <= account.held:
            raise ValueError(f"{count} leases of {key} given back, {account.held} held")
        account.held -= count
        account.spare_since = None
        self._drop_if_empty(key)

    def give_back_all(self) -> dict[str, int]:
        """Every lease held, per host, taken off the book (the Downloader closes)."""
        held = {key: account.held for key, account in self._accounts.items() if account.held}
        for key in held:
            self.given_back(key, held[key])
        return held

    def _account(self, key: str, *, asking: bool) -> _Account:
        account = self._accounts.get(key)
        if account is None or (asking and account.asking < 1):
            raise ValueError(f"no lease of {key} was asked for" if asking else f"none held: {key}")
        return account

    def _drop_if_empty(self, key: str) -> None:
        account = self._accounts[key]
        if not account.held and not account.asking:
            del self._accounts[key]
