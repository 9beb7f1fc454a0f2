"""Which ``.model`` and instance parameter names ngspice-39 knows, and what xbar does with each.

Plain data, in one place.  ngspice reads a ``.model`` card's ``name=value`` pairs this way
(``create_model`` in ngspice's ``inpgmod.c``):

1. a name in the device's *model* table sets that model parameter (an output-only one, such
   as a switch's ``gon``, stops ngspice);
2. ``level`` and ``m`` are read and dropped (no multiplier comes from a model card);
3. a name in the device's *instance* table becomes a default for every instance of the model
   (``.model nm nmos w=10u`` gives each MOSFET W = 10 um unless its card says otherwise; an
   output-only one, such as a diode's ``vd``, stops ngspice at the instance);
4. a name that starts like a number (``1abc``, ``inf``, ``nan``) is dropped silently;
5. anything else: ``unrecognized parameter (foo) - ignored`` (a warning, the run goes on).

The name sets below are ngspice-39's own tables (``devhelp -csv Diode`` etc.; the test
``tests/test_heldout_audit4.py`` compares them with the installed binary).  For every name,
xbar either honours it (``HONOURED``), accepts it because it has no effect on a DC solution
(``NO_DC``), accepts it only at its default because its DC effect is not modelled
(``DEFAULT_ONLY``: another value is a located error), or refuses it (any other known name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = [
    "CSWITCH",
    "DEVICES",
    "DIODE",
    "MOS1",
    "RESISTOR",
    "SWITCH",
    "DeviceParams",
    "device_of",
]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True)
class DeviceParams:
    """ngspice-39's parameter tables of one device and xbar's reading of them.

    ``model`` / ``instance``: settable model / instance parameter names; ``model_out`` /
    ``instance_out``: output-only names (ngspice stops on them); ``honoured``: names xbar
    simulates; ``no_dc``: names without effect on a DC solution; ``default_only``: name ->
    the only value xbar accepts (ngspice's default); ``refused``: names xbar refuses on a
    model card (node references).  Together these four hold every settable name.
    """

    device: str
    model: frozenset[str]
    model_out: frozenset[str]
    instance: frozenset[str]
    instance_out: frozenset[str]
    honoured: frozenset[str]
    no_dc: frozenset[str]
    default_only: Mapping[str, float]
    refused: frozenset[str] = frozenset()

    def known(self, name: str) -> bool:
        """True if ngspice-39 reads ``name`` on a model card of this device."""
        return name in self.model or name in self.instance or name in ("level", "m")


DIODE = DeviceParams(
    device="Diode",
    model=_names(
        "level is js jsw tnom tref rs trs trs1 trs2 n ns tt ttt1 ttt2 cjo cj0 cj vj pb m mj "
        "tm1 tm2 cjp cjsw php mjsw ikf ik ikr nbv area pj tlev tlevc eg xti cta ctc ctp tpb "
        "tvj tphp jtun jtunsw ntun xtitun keg kf af fc fcs bv ibv ib tcv isr nr fv_max bv_max "
        "id_max te_max pd_max rth0 cth0 lm lp wm wp xom xoi xm xp d"
    ),
    model_out=_names("cond"),
    instance=_names("off temp dtemp ic area pj w l m lm lp wm wp thermal sens_area"),
    instance_out=_names(
        "vd id c gd cd charge qd capcur p sens_dc sens_real sens_imag sens_mag sens_ph sens_cplx"
    ),
    honoured=_names(
        "is js n rs bv ibv ib nbv eg xti tnom tref tcv trs trs1 trs2 area m temp dtemp"
    ),
    # capacitance, transit time, noise, safe-operating-area limits, level-3 geometry;
    # PJ and NS act through JSW, NR through ISR, NTUN XTITUN KEG through JTUN (all 0 here);
    # RTH0 and THERMAL need a thermal node
    no_dc=_names(
        "ns tt ttt1 ttt2 cjo cj0 cj vj pb mj tm1 tm2 cjp cjsw php mjsw pj tlevc cta ctc ctp "
        "tpb tvj tphp ntun xtitun keg kf af fc fcs nr fv_max bv_max id_max te_max pd_max rth0 "
        "cth0 lm lp wm wp xom xoi xm xp d off ic w l thermal sens_area"
    ),
    default_only={
        "level": 1.0,
        "jsw": 0.0,
        "ikf": 0.0,
        "ik": 0.0,
        "ikr": 0.0,
        "jtun": 0.0,
        "jtunsw": 0.0,
        "isr": 0.0,
        "tlev": 0.0,
    },
)

MOS1 = DeviceParams(
    device="Mos1",
    model=_names(
        "vto vt0 kp gamma phi lambda rd rs cbd cbs is pb cgso cgdo cgbo rsh cj mj cjsw mjsw "
        "js tox ld u0 uo fc nmos pmos nsub tpg nss tnom kf af"
    ),
    model_out=_names("type"),
    instance=_names("m l w ad as pd ps nrd nrs off icvds icvgs icvbs temp dtemp ic sens_l sens_w"),
    instance_out=_names(
        "id is ig ib ibd ibs vgs vds vbs vbd dnode gnode snode bnode dnodeprime snodeprime "
        "von vdsat sourcevcrit drainvcrit rs sourceconductance rd drainconductance gm gds gmb "
        "gmbs gbd gbs cbd cbs cgs cgd cgb cqgs cqgd cqgb cqbd cqbs cbd0 cbdsw0 cbs0 cbssw0 qgs "
        "qgd qgb qbd qbs p sens_l_dc sens_l_real sens_l_imag sens_l_mag sens_l_ph sens_l_cplx "
        "sens_w_dc sens_w_real sens_w_imag sens_w_mag sens_w_ph sens_w_cplx"
    ),
    # NSUB TPG NSS: with TOX, VTO/GAMMA/PHI not given are derived from them (as ngspice)
    honoured=_names(
        "vto vt0 kp gamma phi lambda rd rs rsh is js ld tnom tox u0 uo nsub tpg nss "
        "nmos pmos l w ad as nrd nrs m temp dtemp"
    ),
    no_dc=_names(
        "cbd cbs pb cgso cgdo cgbo cj mj cjsw mjsw fc kf af pd ps off icvds icvgs "
        "icvbs ic sens_l sens_w"
    ),
    default_only={},
)

RESISTOR = DeviceParams(
    device="Resistor",
    model=_names(
        "rsh narrow dw short dlr tc1 tc1r tc2 tc2r tce defw w l kf af tnom r res bv_max lf wf ef"
    ),
    model_out=frozenset(),
    instance=_names(
        "resistance r ac temp dtemp l w m tc tc1 tc2 tce bv_max scale noisy noise sens_resist"
    ),
    instance_out=_names("i p sens_dc sens_real sens_imag sens_mag sens_ph sens_cplx"),
    honoured=_names(
        "rsh narrow dw short dlr tc1 tc1r tc2 tc2r tce defw w l tnom r res resistance temp "
        "dtemp m tc scale"
    ),
    no_dc=_names("kf af bv_max lf wf ef ac noisy noise sens_resist"),
    default_only={},
)

SWITCH = DeviceParams(
    device="Switch",
    model=_names("sw vt vh ron roff"),
    model_out=_names("gon goff"),
    instance=_names("on off pos_node neg_node"),
    instance_out=_names("cont_p_node cont_n_node i p"),
    honoured=_names("vt vh ron roff on off"),
    no_dc=_names("sw"),
    default_only={},
    refused=_names("pos_node neg_node"),
)

CSWITCH = DeviceParams(
    device="CSwitch",
    model=_names("csw it ih ron roff"),
    model_out=_names("gon goff"),
    instance=_names("control on off"),
    instance_out=_names("pos_node neg_node i p"),
    honoured=_names("it ih ron roff on off"),
    no_dc=_names("csw"),
    default_only={},
    refused=_names("control"),
)

#: the devices xbar simulates, by ngspice's device name
DEVICES = {d.device: d for d in (DIODE, MOS1, RESISTOR, SWITCH, CSWITCH)}
_BY_TYPE = {"d": DIODE, "nmos": MOS1, "pmos": MOS1, "r": RESISTOR, "res": RESISTOR}
_BY_TYPE.update({"sw": SWITCH, "csw": CSWITCH})


def device_of(model_type: str) -> DeviceParams | None:
    """The device of a ``.model`` type (``d``, ``nmos``, ``r``, ``sw`` ...; lower case), or
    None for a type xbar does not simulate."""
    return _BY_TYPE.get(model_type)
