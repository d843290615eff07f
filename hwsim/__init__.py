"""hwsim: what the hardware and the workload are, and how they behave.

Importing this package loads neither torch, gymnasium nor stable-baselines3 (a test checks it).
"""

__version__ = "0.1.0"
