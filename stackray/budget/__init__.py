"""The budget: the ledger of paid labels and the only door to the oracle.

Labels are money: `LabelLedger` records each paid label durably (fsynced before it is returned),
`LedgerDoor` is the `oracle(t) -> int` the game calls (answers already paid come from the ledger, new
ones are paid once and recorded first), and the oracles behind it are dataset gold (`GoldOracle`) or
human annotators answering a file queue (`FileQueueOracle`, `stackray label RUN_DIR`).
"""

from stackray.budget.jsonl import FileLockedError, TornLineWarning
from stackray.budget.ledger import (
    LEDGER_FILE,
    BudgetExceededError,
    LabelLedger,
    LedgerDoor,
    LedgerEntry,
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
    "Oracle",
    "TornLineWarning",
    "append_answer",
    "pending_requests",
    "read_ledger",
    "read_requests",
]
