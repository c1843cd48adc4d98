"""Every exception cmsi_lib raises, under one root class.

    CMSIError                       anything the library refuses or cannot do
    +-- InputError                  a non-physical or malformed input (names the argument and the valid range)
    |   +-- ParameterError          an invalid CMSI parameter (names it, its value and the valid range)
    |   +-- UnknownGalaxyError      a name that is not in SPARC (lists the closest valid names)
    +-- DataFileError               a data file missing, unreachable or failing its checksum
    |   +-- DataFormatError         a data file that does not have its published format (names file and line)
    |       +-- SparcFormatError        the SPARC tables
    |       +-- MilkyWayDataError       the Milky Way rotation curves
    |       +-- ClusterDataError        the Vikhlinin (2006) cluster tables
    +-- ResultsWriteError           a result could not be written: read-only folder, full disk (names the file)
    +-- NoSelfConsistentSolution    v^2 = F(v) v_bar^2 has no solution (names the radii)
    +-- AuditFailure                a derivation check failed (names the check and the quantity)

Each class also derives from the builtin a caller would expect (``ValueError`` for bad input,
``ArithmeticError`` for a missing solution, ``OSError`` for a failed write, ``AssertionError``
for a failed check), so ``except ValueError`` keeps working. This module imports nothing: every
other module may import it.
"""

from __future__ import annotations


class CMSIError(Exception):
    """Root of every error cmsi_lib raises."""


class InputError(CMSIError, ValueError):
    """A non-physical or malformed input (the message names the argument and the valid range)."""


class ParameterError(InputError):
    """An invalid CMSI parameter: the message names the parameter, its value and the valid range."""


class UnknownGalaxyError(InputError, KeyError):
    """A galaxy name that is not in SPARC (the message lists the closest valid names)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class DataFileError(CMSIError, RuntimeError):
    """A data file is missing, unreachable or fails its checksum (the message says what to do)."""


class DataFormatError(DataFileError, ValueError):
    """A data file that does not have its published format (the message names the file and line)."""


class SparcFormatError(DataFormatError):
    """A SPARC table does not have the published format (the message names the file and line)."""


class MilkyWayDataError(DataFormatError):
    """A Milky Way data file is malformed (the message names file and line)."""


class ClusterDataError(DataFormatError):
    """A malformed or non-physical cluster data file (the message names the file, line and column)."""


class ResultsWriteError(CMSIError, OSError):
    """A result file could not be written (read-only folder, full disk): the message names the file
    and the folder to fix; ``errno`` is the operating system's error number. Atomic writes leave no
    half-written file behind."""

    def __str__(self) -> str:  # OSError would print "[Errno n] strerror: filename" once errno is set
        return str(self.args[0]) if self.args else ""


class NoSelfConsistentSolution(CMSIError, ArithmeticError):
    """v^2 = F(v) v_bar^2 has no solution: F - 1 grows faster than v^2 and the iteration runs away."""


class AuditFailure(CMSIError, AssertionError):
    """A derivation check failed (the message names the check and the quantity compared)."""
