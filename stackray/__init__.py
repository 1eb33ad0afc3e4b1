"""stackray: adapt a language model with as few expert labels as possible (LLF-STACKSL), on Ray."""

__version__ = "0.1.0"
