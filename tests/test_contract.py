"""The registry-wide contract: every registered id builds on the meta device exactly as its registry entry says,
and every family's code, weight formats and schedules resolve. This is the test that tells a new family (built-in
or third-party, when installed) that it is done; see docs/plugin-guide.md, "Contract tests"."""
import inspect

import pytest

from metazoo_core.family import NO_SCHEDULE, UNIFORM, LazyRef
from metazoo_core.models import load_model
from metazoo_core.plugins import host
from metazoo_core.stages import stage_shapes

IDS = host().registry.ids()


@pytest.mark.parametrize("model_id", IDS)
def test_meta_build_matches_the_registry(model_id):
    """Stage names and shapes equal the entry's; `relu: true` ⇔ the stage is a (fake-)ReLU tap of a recorded
    pre-activation; nothing is allocated."""
    spec = host().registry.get(model_id)
    model = load_model(model_id, pretrained=False, device="meta")
    assert all(p.is_meta for p in model.net.parameters()), "meta build allocated real parameters"
    assert stage_shapes(model) == {s.name: tuple(s.shape) for s in spec.stages}
    relu_taps = {name for name, tap in model.taps.items() if tap.relu}
    assert {s.name for s in spec.stages if s.relu} == relu_taps & set(spec.stage_names)
    assert all(model.taps[s.name].point == "input" for s in spec.stages if s.relu)


def test_every_family_resolves_and_the_contract_covers_every_id(capsys):
    """Each family's build, converter and schedules import; each entry's weights.format is one its family accepts
    and each entry's schedule gives a schedule (or none) at every stage; the count is printed."""
    h = host()
    specs = [h.registry.get(i) for i in IDS]
    for family in h.families.values():  # each reference imports and accepts the arguments it will be given
        refs = [("build", family.build), ("convert", family.convert),
                *(("schedule", ref) for ref in family.schedules.values())]
        for kind, ref in refs:
            if isinstance(ref, LazyRef):
                inspect.signature(ref.load()).bind(*(ref.takes or UNIFORM[kind]))
    for spec in specs:
        family = h.family(spec)
        assert spec.weights.format is None or spec.weights.format in family.formats, spec.id
        for name in family.schedule_names:
            options = {"name": name, "seed": 0, "iterations": 30, "blocks": 2}
            made = [h.schedule(spec, stage, options) for stage in spec.stage_names]
            if name == NO_SCHEDULE:
                assert made == [None] * len(made)
            else:
                assert any(s is not None and s.mask(0, 0) is not None for s in made), (spec.id, name)
    assert IDS and {s.family for s in specs} == set(h.families) - {"anymodel"}  # anymodel: resolved ids only
    with capsys.disabled():
        print(f"\ncontract: {len(IDS)} registry ids, {len(h.families)} families, "
              f"{sum(len(f.schedules) for f in h.families.values())} named schedules")
