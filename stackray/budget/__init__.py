"""The budget: the ledger of paid labels and the only door to the oracle.

Labels are money: `LabelLedger` records each paid label durably (fsynced before it is returned),
`LedgerDoor` is the `oracle(t) -> int` the game calls (answers already paid come from the ledger, new
ones are paid once and recorded first), and the oracles behind it are dataset gold (`GoldOracle`) or
human annotators answering a file queue (`FileQueueOracle`, `stackray label RUN_DIR`). Each ledger
line is hash-chained to the one before it, and a resume checks the ledger against the checkpoint
(`stackray.budget.integrity`), so a cut, edited or reordered ledger is refused instead of re-paid.
"""

from stackray.budget.integrity import LedgerIntegrityError, LegacyLedgerWarning, Paid
from stackray.budget.ledger import (
    LEDGER_FILE,
    BudgetExceededError,
    LabelLedger,
    LedgerDoor,
    LedgerEntry,
    inspect_ledger,
    read_ledger,
)
from stackray.budget.oracles import (
    ANSWERS_FILE,
    REQUESTS_FILE,
    AlreadyAnsweredError,
    FileQueueOracle,
    GoldOracle,
    LabelRequest,
    LabelTimeoutError,
    Oracle,
    append_answer,
    pending_requests,
    read_requests,
)
from stackray.io import FileLockedError, TornLineWarning

__all__ = [
    "ANSWERS_FILE",
    "LEDGER_FILE",
    "REQUESTS_FILE",
    "AlreadyAnsweredError",
    "BudgetExceededError",
    "FileLockedError",
    "FileQueueOracle",
    "GoldOracle",
    "LabelLedger",
    "LabelRequest",
    "LabelTimeoutError",
    "LedgerDoor",
    "LedgerEntry",
    "LedgerIntegrityError",
    "LegacyLedgerWarning",
    "Oracle",
    "Paid",
    "TornLineWarning",
    "append_answer",
    "inspect_ledger",
    "pending_requests",
    "read_ledger",
    "read_requests",
]
