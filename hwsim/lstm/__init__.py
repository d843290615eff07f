"""Tensor-decomposed LSTM accelerators: the TT/HT contraction planner (:mod:`.plan`), the
banked working-memory simulator (:mod:`.banks`) and the TIE and FDHT-LSTM accelerator models
(:mod:`.accel`)."""
