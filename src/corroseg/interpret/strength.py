"""Screening burst strength of a corroded casing joint under internal pressure.

Four numbers for one metal-loss defect of maximum depth d and axial length L in a
pipe of outside diameter D, nominal wall t and an API 5CT grade (SMYS, SMTS):

- the intact API burst rating (API 5C3 internal yield): P = 0.875 * 2 * SMYS * t / D;
- ASME B31G original: parabolic defect area (2/3 d L), two-term Folias factor;
- ASME B31G modified ("0.85 dL", Kiefner and Vieth's criterion, level 1 of B31G-2012);
- DNV-RP-F101 single defect, the Part B capacity equation (tensile strength based).

All lengths are inches and all stresses and pressures psi; each parameter names
its unit. These are pipeline methods for internal pressure only: no collapse
(external pressure), no axial tension or bending, no combined loads. Applied to
casing they give a screening estimate, not a design check. The B31G and DNV
numbers are predicted failure (burst) pressures with no safety factor; the intact
API figure is a minimum internal-yield rating with the API wall tolerance. Each
method's answer says whether the method applies to the defect (:class:`Estimate`),
never a silent number.

Sources: API TR 5C3 / ISO 10400 (intact burst); ASME B31G-1991 and B31G-2012
(original and modified criteria); DNV-RP-F101 (Oct. 2010) Part B; API Spec 5CT /
ISO 11960 tensile requirements (grade table). Worked examples reproduced in
``tests/test_interpret.py`` name where each was found.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from corroseg.errors import CorrosegUserError

API_WALL_TOLERANCE = 0.875
"""Fraction of nominal wall the API burst rating credits (the 12.5 % under-thickness tolerance)."""

FLOW_STRESS_MARGIN_PSI = 10_000.0
"""Modified B31G's usual flow stress: SMYS + 10 ksi."""

B31G_MAX_DEPTH = 0.8
"""Deepest defect, as a fraction of wall, that B31G (original and modified) evaluates."""

DNV_MAX_DEPTH = 0.85
"""Deepest defect, as a fraction of wall, that DNV-RP-F101's single-defect equation covers."""

VALIDATED_MAX_SMYS_PSI = 80_000.0
"""About X80: the strongest line-pipe steels the methods were validated on (DNV-RP-F101 states X80)."""


@dataclass(frozen=True)
class Grade:
    """An API 5CT casing grade: specified minimum yield and tensile strength, psi."""

    name: str
    smys_psi: float
    smts_psi: float


GRADES: dict[str, Grade] = {g.name: g for g in (
    Grade("H40", 40_000.0, 60_000.0),
    Grade("J55", 55_000.0, 75_000.0),
    Grade("K55", 55_000.0, 95_000.0),
    Grade("N80", 80_000.0, 100_000.0),   # type 1 and Q alike
    Grade("L80", 80_000.0, 95_000.0),    # type 1, 9Cr and 13Cr alike
    Grade("C90", 90_000.0, 100_000.0),
    Grade("T95", 95_000.0, 105_000.0),
    Grade("P110", 110_000.0, 125_000.0),
    Grade("Q125", 125_000.0, 135_000.0),
)}
"""API Spec 5CT (ISO 11960) minimum yield and minimum tensile strengths of the common casing grades."""


def grade(name: str) -> Grade:
    """The API 5CT grade called ``name``: case, hyphens and spaces ignored ("p-110" is P110).

    Raises
    ------
    CorrosegUserError
        For a name not in :data:`GRADES`; the message lists the known grades.
    """
    key = str(name).upper().replace("-", "").replace(" ", "").replace("_", "")
    if key not in GRADES:
        raise CorrosegUserError(f"unknown API 5CT casing grade {name!r}; known grades: {', '.join(GRADES)}")
    return GRADES[key]


def api_burst_psi(od_in: float, wall_in: float, smys_psi: float) -> float:
    """Intact internal-yield (burst) rating of plain pipe, API 5C3 / ISO 10400 Barlow form.

    P = 0.875 * 2 * SMYS * t / D: the hoop stress at the outside diameter reaches
    SMYS in a wall 12.5 % under nominal. API tables round it to the nearest 10 psi;
    this returns it unrounded.

    Parameters
    ----------
    od_in : float
        Nominal outside diameter D, in.
    wall_in : float
        Nominal wall thickness t, in.
    smys_psi : float
        Specified minimum yield strength, psi.

    Returns
    -------
    float
        Internal yield pressure, psi.
    """
    _check_pipe(od_in, wall_in)
    _check_positive("smys_psi", smys_psi)
    return API_WALL_TOLERANCE * 2.0 * smys_psi * wall_in / od_in


@dataclass(frozen=True)
class Estimate:
    """One method's failure pressure for one defect, and whether the method applies.

    Attributes
    ----------
    method : str
        "B31G original", "B31G modified" or "DNV-RP-F101".
    pressure_psi : float
        Predicted failure (burst) pressure, psi, no safety factor. 0 for a through-wall defect.
    applies : bool
        False where the defect is outside the method's range (too deep); the number is
        then the formula's value, not a prediction to rely on.
    note : str
        Why it does not apply, and which branch of the method was used ("" if nothing to say).
    stress_psi : float
        The material stress the method used: flow stress (B31G) or SMTS (DNV), psi.
    bulging_factor : float
        Folias factor M (B31G) or length correction factor Q (DNV), dimensionless.
    intact_psi : float
        The same method's pressure for a defect of zero depth, psi.
    """

    method: str
    pressure_psi: float
    applies: bool
    note: str
    stress_psi: float
    bulging_factor: float
    intact_psi: float

    @property
    def remaining_fraction(self) -> float:
        """``pressure_psi / intact_psi``: the fraction of the method's own intact strength left."""
        return self.pressure_psi / self.intact_psi

    def to_dict(self) -> dict:
        """A JSON-ready dict of the fields and :attr:`remaining_fraction`."""
        return {**asdict(self), "remaining_fraction": self.remaining_fraction}


def b31g_original_psi(od_in: float, wall_in: float, depth_in: float, length_in: float, smys_psi: float,
                      *, smts_psi: float | None = None) -> Estimate:
    """ASME B31G original criterion: failure pressure of a corroded pipe.

    z = L^2 / (D t), M = sqrt(1 + 0.8 z);
    S_f = S_flow (1 - 2/3 d/t) / (1 - 2/3 d/(t M)) for z <= 20 (parabolic area),
    S_f = S_flow (1 - d/t) for z > 20 (long defect, rectangular area);
    P_f = 2 S_f t / D, with S_flow = 1.1 SMYS (capped at SMTS when ``smts_psi`` is given).
    Applies for d/t <= 0.8.

    Parameters
    ----------
    od_in, wall_in : float
        Nominal outside diameter D and wall thickness t, in.
    depth_in : float
        Maximum defect depth d, in (0 <= d <= t).
    length_in : float
        Axial defect length L, in (>= 0).
    smys_psi : float
        Specified minimum yield strength, psi.
    smts_psi : float, optional
        Specified minimum tensile strength, psi: an upper bound on the flow stress.

    Returns
    -------
    Estimate
        Failure pressure, psi, with the applicability flag and the branch used.
    """
    d_t, z = _check_defect(od_in, wall_in, depth_in, length_in)
    _check_positive("smys_psi", smys_psi)
    flow, notes = _flow_stress(1.1 * smys_psi, smts_psi)
    intact = 2.0 * flow * wall_in / od_in
    m = math.sqrt(1.0 + 0.8 * z)
    if z <= 20.0:
        factor = (1.0 - 2.0 / 3.0 * d_t) / (1.0 - 2.0 / 3.0 * d_t / m)
    else:
        factor = 1.0 - d_t
        notes.append(f"long defect (z = {z:.1f} > 20): S_f = S_flow (1 - d/t)")
    return _estimate("B31G original", intact * factor, d_t, B31G_MAX_DEPTH, notes, flow, m, intact)


def b31g_modified_psi(od_in: float, wall_in: float, depth_in: float, length_in: float, smys_psi: float,
                      *, flow_stress_psi: float | None = None, smts_psi: float | None = None) -> Estimate:
    """Modified ASME B31G criterion ("0.85 dL", B31G-2012 level 1): failure pressure.

    z = L^2 / (D t); M = sqrt(1 + 0.6275 z - 0.003375 z^2) for z <= 50, else 0.032 z + 3.3;
    S_f = S_flow (1 - 0.85 d/t) / (1 - 0.85 d/(t M)); P_f = 2 S_f t / D.
    Applies for d/t <= 0.8.

    Parameters
    ----------
    od_in, wall_in, depth_in, length_in, smys_psi : float
        As for :func:`b31g_original_psi`: D, t, d and L in inches, SMYS in psi.
    flow_stress_psi : float, optional
        Flow stress S_flow, psi. Default SMYS + 10,000 psi, the modified criterion's
        usual choice; B31G-2012 also allows 1.1 SMYS or (SMYS + SMTS) / 2.
    smts_psi : float, optional
        Specified minimum tensile strength, psi: an upper bound on the flow stress.

    Returns
    -------
    Estimate
        Failure pressure, psi, with the applicability flag and the branch used.
    """
    d_t, z = _check_defect(od_in, wall_in, depth_in, length_in)
    _check_positive("smys_psi", smys_psi)
    if flow_stress_psi is None:
        flow_stress_psi = smys_psi + FLOW_STRESS_MARGIN_PSI
    _check_positive("flow_stress_psi", flow_stress_psi)
    flow, notes = _flow_stress(flow_stress_psi, smts_psi)
    intact = 2.0 * flow * wall_in / od_in
    if z <= 50.0:
        m = math.sqrt(1.0 + 0.6275 * z - 0.003375 * z * z)
    else:
        m = 0.032 * z + 3.3
        notes.append(f"long defect (z = {z:.1f} > 50): M = 0.032 z + 3.3")
    factor = (1.0 - 0.85 * d_t) / (1.0 - 0.85 * d_t / m)
    return _estimate("B31G modified", intact * factor, d_t, B31G_MAX_DEPTH, notes, flow, m, intact)


def dnv_f101_psi(od_in: float, wall_in: float, depth_in: float, length_in: float, smts_psi: float) -> Estimate:
    """DNV-RP-F101 single longitudinal defect under internal pressure: capacity (failure) pressure.

    Q = sqrt(1 + 0.31 L^2 / (D t)); P_f = 2 t SMTS (1 - d/t) / ((D - t)(1 - d/(t Q))).
    This is the Part B (allowable-stress) capacity equation of the October 2010
    edition, without partial safety factors, usage factor or measurement-uncertainty
    terms: an allowable pressure would multiply it by a usage factor (Part B) or use
    Part A's partial factors. Some implementations of later editions (DNVGL-RP-F101,
    2015 on) carry an extra factor 1.05 on the capacity; it is not applied here: check
    the edition in force. Applies for d/t <= 0.85.

    Parameters
    ----------
    od_in, wall_in, depth_in, length_in : float
        As for :func:`b31g_original_psi`: D, t, d (0 <= d <= t) and L (>= 0), in.
    smts_psi : float
        Specified minimum tensile strength, psi.

    Returns
    -------
    Estimate
        Failure pressure, psi, with the applicability flag.
    """
    d_t, z = _check_defect(od_in, wall_in, depth_in, length_in)
    _check_positive("smts_psi", smts_psi)
    intact = 2.0 * wall_in * smts_psi / (od_in - wall_in)
    q = math.sqrt(1.0 + 0.31 * z)
    factor = (1.0 - d_t) / (1.0 - d_t / q) if d_t < 1.0 else 0.0
    return _estimate("DNV-RP-F101", intact * factor, d_t, DNV_MAX_DEPTH, [], smts_psi, q, intact)


ASSUMPTIONS = (
    "internal pressure only: no collapse (external pressure), axial tension, bending or combined loads",
    "pipeline remaining-strength methods applied to casing: a screening estimate, not a design check",
    "nominal outside diameter and wall; d = maximum defect depth, L = its axial length (a single, "
    "isolated, blunt metal-loss defect; no interaction with neighbours)",
    "intact burst: API 5C3 internal yield, 0.875 * 2 * SMYS * t / D (12.5 % wall tolerance), a minimum rating",
    "B31G original: area 2/3 d L, M = sqrt(1 + 0.8 z), z = L^2/(D t); z > 20: S_f = S_flow (1 - d/t); "
    "S_flow = 1.1 SMYS; valid to d/t = 0.8",
    "B31G modified: area 0.85 d L, M = sqrt(1 + 0.6275 z - 0.003375 z^2) (z <= 50) else 0.032 z + 3.3; "
    "S_flow = SMYS + 10 ksi; valid to d/t = 0.8",
    "DNV-RP-F101 single defect, Part B capacity: Q = sqrt(1 + 0.31 z), SMTS over (D - t); "
    "no partial safety or usage factors; valid to d/t = 0.85",
    "flow stress never above SMTS",
    "B31G and DNV pressures are predicted failure pressures with no safety factor; the intact API figure "
    "is a yield rating: compare fractions of strength left, not the raw numbers",
)
"""What every :class:`Rating` assumes, in words for a report."""


@dataclass(frozen=True)
class Rating:
    """Screening burst rating of one defect: the intact API burst and the three methods.

    Attributes
    ----------
    od_in, wall_in, depth_in, length_in : float
        Outside diameter, nominal wall, maximum defect depth and axial length, in.
    grade : str or None
        API 5CT grade name, if the strengths came from one.
    smys_psi, smts_psi : float
        Specified minimum yield and tensile strength, psi.
    intact_burst_psi : float
        API 5C3 internal yield rating of the undamaged pipe, psi.
    b31g_original, b31g_modified, dnv_f101 : Estimate
        Each method's failure pressure and applicability.
    warnings : tuple of str
        Where this defect or grade stretches the methods (too deep, steel stronger than validated).
    assumptions : tuple of str
        The assumptions of every rating (:data:`ASSUMPTIONS`).
    """

    od_in: float
    wall_in: float
    depth_in: float
    length_in: float
    grade: str | None
    smys_psi: float
    smts_psi: float
    intact_burst_psi: float
    b31g_original: Estimate
    b31g_modified: Estimate
    dnv_f101: Estimate
    warnings: tuple[str, ...]
    assumptions: tuple[str, ...] = ASSUMPTIONS

    @property
    def estimates(self) -> tuple[Estimate, Estimate, Estimate]:
        """The three methods' estimates: B31G original, B31G modified, DNV-RP-F101."""
        return self.b31g_original, self.b31g_modified, self.dnv_f101

    @property
    def lowest_failure_psi(self) -> float | None:
        """The lowest failure pressure among the methods that apply, psi; None if none applies."""
        pressures = [e.pressure_psi for e in self.estimates if e.applies]
        return min(pressures) if pressures else None

    @property
    def derated_burst_psi(self) -> float | None:
        """Intact API burst times the smallest fraction of strength left among the methods that apply, psi.

        A screening derating (the remaining-strength-factor idea): it carries each
        method's relative loss over to the API rating. None if no method applies.
        """
        fractions = [e.remaining_fraction for e in self.estimates if e.applies]
        return self.intact_burst_psi * min(fractions) if fractions else None

    def to_dict(self) -> dict:
        """A JSON-ready dict: inputs, the four pressures, flags, warnings and assumptions."""
        inputs = ("od_in", "wall_in", "depth_in", "length_in", "grade", "smys_psi", "smts_psi", "intact_burst_psi")
        return {**{k: getattr(self, k) for k in inputs},
                "b31g_original": self.b31g_original.to_dict(), "b31g_modified": self.b31g_modified.to_dict(),
                "dnv_f101": self.dnv_f101.to_dict(), "lowest_failure_psi": self.lowest_failure_psi,
                "derated_burst_psi": self.derated_burst_psi,
                "warnings": list(self.warnings), "assumptions": list(self.assumptions)}


def rate_defect(od_in: float, wall_in: float, depth_in: float, length_in: float, grade_name: str | None = None,
                *, smys_psi: float | None = None, smts_psi: float | None = None) -> Rating:
    """Screening burst rating of one defect: intact API burst, B31G original and modified, DNV-RP-F101.

    Parameters
    ----------
    od_in, wall_in : float
        Nominal outside diameter and wall thickness, in.
    depth_in : float
        Maximum defect depth, in (0 <= depth <= wall).
    length_in : float
        Axial defect length, in (>= 0).
    grade_name : str, optional
        API 5CT grade ("P110", "p-110", ...); gives SMYS and SMTS unless they are passed.
    smys_psi, smts_psi : float, optional
        Specified minimum yield and tensile strength, psi; required without ``grade_name``.

    Returns
    -------
    Rating
    """
    if grade_name is not None:
        g = grade(grade_name)
        smys_psi = g.smys_psi if smys_psi is None else smys_psi
        smts_psi = g.smts_psi if smts_psi is None else smts_psi
    if smys_psi is None or smts_psi is None:
        raise ValueError("rate_defect needs a grade_name or both smys_psi and smts_psi")
    _check_positive("smys_psi", smys_psi)
    _check_positive("smts_psi", smts_psi)
    if smts_psi < smys_psi:
        raise ValueError(f"smts_psi ({smts_psi:g}) must not be below smys_psi ({smys_psi:g})")
    estimates = (b31g_original_psi(od_in, wall_in, depth_in, length_in, smys_psi, smts_psi=smts_psi),
                 b31g_modified_psi(od_in, wall_in, depth_in, length_in, smys_psi, smts_psi=smts_psi),
                 dnv_f101_psi(od_in, wall_in, depth_in, length_in, smts_psi))
    warnings = [f"{e.method}: {e.note}" for e in estimates if not e.applies]
    if smys_psi > VALIDATED_MAX_SMYS_PSI:
        warnings.append(f"SMYS {smys_psi:,.0f} psi is above about X80 ({VALIDATED_MAX_SMYS_PSI:,.0f} psi), the "
                        "strongest line-pipe steel these methods were validated on: an extrapolation")
    return Rating(od_in=float(od_in), wall_in=float(wall_in), depth_in=float(depth_in), length_in=float(length_in),
                  grade=None if grade_name is None else grade(grade_name).name,
                  smys_psi=float(smys_psi), smts_psi=float(smts_psi),
                  intact_burst_psi=api_burst_psi(od_in, wall_in, smys_psi),
                  b31g_original=estimates[0], b31g_modified=estimates[1], dnv_f101=estimates[2],
                  warnings=tuple(warnings))


def _flow_stress(flow_psi: float, smts_psi: float | None) -> tuple[float, list[str]]:
    """The flow stress, capped at SMTS when given, and a note if the cap bit."""
    if smts_psi is None:
        return float(flow_psi), []
    _check_positive("smts_psi", smts_psi)
    if flow_psi > smts_psi:
        return float(smts_psi), [f"flow stress {flow_psi:,.0f} psi capped at SMTS {smts_psi:,.0f} psi"]
    return float(flow_psi), []


def _estimate(method: str, pressure: float, d_t: float, max_d_t: float, notes: list[str],
              stress: float, bulging: float, intact: float) -> Estimate:
    """Bundle a method's answer, flagging a defect deeper than the method evaluates."""
    applies = d_t <= max_d_t
    if d_t >= 1.0:
        pressure = 0.0
        notes = ["through-wall defect (d/t = 1): a leak, no method applies", *notes]
    elif not applies:
        notes = [f"d/t = {d_t:.2f} exceeds {max_d_t:.2f}: the method does not apply", *notes]
    return Estimate(method=method, pressure_psi=float(pressure), applies=applies, note="; ".join(notes),
                    stress_psi=float(stress), bulging_factor=float(bulging), intact_psi=float(intact))


def _check_defect(od_in: float, wall_in: float, depth_in: float, length_in: float) -> tuple[float, float]:
    """Validate a pipe and a defect; return d/t and z = L^2 / (D t)."""
    _check_pipe(od_in, wall_in)
    for name, value in (("depth_in", depth_in), ("length_in", length_in)):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0 (inches), got {value!r}")
    if depth_in > wall_in:
        raise ValueError(f"depth_in ({depth_in:g}) must not exceed wall_in ({wall_in:g})")
    return depth_in / wall_in, length_in * length_in / (od_in * wall_in)


def _check_pipe(od_in: float, wall_in: float) -> None:
    """Validate an outside diameter and wall: positive, finite, wall under half the diameter."""
    _check_positive("od_in", od_in, unit="inches")
    _check_positive("wall_in", wall_in, unit="inches")
    if wall_in >= od_in / 2:
        raise ValueError(f"wall_in ({wall_in:g}) must be under half od_in ({od_in:g})")


def _check_positive(name: str, value, unit: str = "psi") -> None:
    """Raise ``ValueError`` unless ``value`` is a positive, finite number."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number ({unit}), got {value!r}")


def _is_number(value) -> bool:
    """A real number that is not a bool (numpy scalars included)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (bool, str, bytes))
