"""The shared configuration base, progress protocol and result cache."""
import dataclasses

import numpy as np
import pytest

from topoact.config import Config, check_range
from topoact.errors import InvalidParameterError, UnknownLayerError
from topoact.progress import Cancelled, Stage, check_cancelled, report


@dataclasses.dataclass(frozen=True)
class _Params(Config):
    n_intervals: int = 10
    overlap: float = 0.3
    _aliases = {"intervals": "n_intervals"}

    def _validate(self):
        object.__setattr__(self, "n_intervals", check_range("n_intervals", self.n_intervals, 1, integer=True))
        object.__setattr__(self, "overlap", check_range("overlap", self.overlap, 0, 1, lo_open=True, hi_open=True))


def test_config_validates_once_with_the_allowed_range():
    with pytest.raises(InvalidParameterError, match=r"overlap must be in \(0, 1\), got 1.0"):
        _Params(overlap=1.0)
    with pytest.raises(InvalidParameterError, match="n_intervals must be a whole number"):
        _Params(n_intervals=None)
    with pytest.raises(InvalidParameterError, match="finite"):
        check_range("eps", float("inf"), 0, lo_open=True)


def test_config_key_is_stable_and_aliases_warn():
    a = _Params(n_intervals=20)
    assert a.key == _Params.from_dict(a.to_dict()).key
    assert a.key != a.replace(overlap=0.4).key
    with pytest.warns(DeprecationWarning, match="intervals"):
        assert _Params.from_dict({"intervals": 20}) == a
    with pytest.raises(InvalidParameterError, match="valid"):
        _Params.from_dict({"bogus": 1})


def test_progress_protocol_and_stage():
    seen = []
    report(lambda d, t, m="": seen.append((d, t, m)), 3, 4, "x")
    report(None, 1, 2)
    stage = Stage(lambda d, t, m="": seen.append((d, t, m)), 0.5, 1.0, "boot")
    stage(2, 4)
    assert seen == [(3.0, 4.0, "x"), (0.75, 1.0, "boot")]
    with pytest.raises(Cancelled, match="mapper cancelled"):
        check_cancelled(lambda: True, "mapper")
    check_cancelled(lambda: False)


def test_unknown_layer_is_both_key_and_value_error():
    err = UnknownLayerError("nope", ["a", "b"])
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert str(err) == "unknown layer 'nope' in this run; valid layers: a, b"
