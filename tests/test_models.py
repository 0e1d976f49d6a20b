import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from corroseg.cli import app
from corroseg.errors import CorrosegInputError, CorrosegUserError
from corroseg.models import available, create, describe
from corroseg.models.corroseg_unet import blocks_to_unfreeze
from corroseg.models.resnet import ResNet50, load_pretrained

# small option sets keep the tests fast; defaults are covered by `describe` on the meta device
SMALL = {"sadd_unet": {"width": 4}}
PAPER_MODELS = {"baseline_cnn", "fcn_transpose", "fcn_bilinear", "sadd_unet", "xscat_unet", "corroseg"}


def test_registry_has_every_paper_model():
    assert PAPER_MODELS <= set(available())
    with pytest.raises(ValueError, match="unknown model"):
        create("unet9000")
    with pytest.raises(ValueError, match="corroseg"):
        create("corroseg", colour="blue")


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_forward_and_backward_on_patches_and_strips(name):
    torch.manual_seed(0)
    model = create(name, **SMALL.get(name, {}))
    x = torch.randn(2, 1, 36, 36)
    y = model(x)
    assert y.shape == (2, 1, 36, 36)
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    strip = torch.randn(1, 1, 360, 36)
    if describe(name).taller_inputs:
        model.eval()
        assert model(strip).shape == (1, 1, 360, 36)
    else:
        with pytest.raises(ValueError):
            model(strip)


def test_model_cards_count_parameters_and_flops():
    cards = {name: describe(name) for name in PAPER_MODELS}
    assert cards["baseline_cnn"].parameters == sum(p.numel() for p in create("baseline_cnn").parameters())
    # baseline: 128*26*26 -> 100 -> 1296 dense layers dominate
    assert cards["baseline_cnn"].parameters == 8_882_036
    assert cards["xscat_unet"].parameters < cards["fcn_bilinear"].parameters < cards["corroseg"].parameters
    assert cards["sadd_unet"].flops_per_patch > 100 * cards["corroseg"].flops_per_patch / 2
    for card in cards.values():
        assert card.flops_per_patch > 0 and card.summary


def test_baseline_is_the_challenge_benchmark():
    model = create("baseline_cnn")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 64, 128]
    assert all(c.padding == (0, 0) and c.kernel_size == (3, 3) for c in convs)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(128 * 26 * 26, 100), (100, 1296)]


@pytest.mark.slow
def test_corroseg_options():
    for skip in ("add", "cat"):
        for dropout in ("none", "low", "high"):
            model = create("corroseg", skip=skip, dropout=dropout, decoder_bn=skip == "cat")
            assert model(torch.randn(1, 1, 36, 36)).shape == (1, 1, 36, 36)
    drops = {m.p for m in create("corroseg", dropout="high").modules() if isinstance(m, torch.nn.Dropout2d)}
    assert drops == {0.2, 0.3}
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in create("corroseg", decoder_bn=False).decoder.modules())
    with pytest.raises(ValueError, match="skip"):
        create("corroseg", skip="mul")


def test_resnet50_matches_torchvision_layout():
    reference = ResNet50(in_channels=3, num_classes=1000)
    state = reference.state_dict()
    assert len(state) == 320
    assert sum(p.numel() for p in reference.parameters()) == 25_557_032  # torchvision resnet50
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight",
                "layer1.0.downsample.1.num_batches_tracked", "layer3.5.bn3.weight",
                "layer4.2.conv3.weight", "fc.weight", "fc.bias"):
        assert key in state
    shapes = [tuple(f.shape[1:]) for f in ResNet50().features(torch.zeros(1, 1, 36, 36))]
    assert shapes == [(64, 18, 18), (256, 9, 9), (512, 5, 5), (1024, 3, 3), (2048, 2, 2)]


def test_pretrained_checkpoint_loads_with_first_conv_summed(tmp_path):
    torch.manual_seed(1)
    reference = ResNet50(in_channels=3, num_classes=1000)
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    model = create("corroseg", pretrained=path)
    encoder = model.encoder.state_dict()
    torch.testing.assert_close(encoder["conv1.weight"], reference.conv1.weight.sum(1, keepdim=True))
    torch.testing.assert_close(encoder["layer3.2.conv2.weight"], reference.layer3[2].conv2.weight)
    torch.testing.assert_close(encoder["bn1.running_mean"], reference.bn1.running_mean)
    # wrapped checkpoints ({"state_dict": ...}, "module." prefixes) load too
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, tmp_path / "w.ckpt")
    wrapped = load_pretrained(ResNet50(), tmp_path / "w.ckpt")
    torch.testing.assert_close(wrapped.conv1.weight, encoder["conv1.weight"])


def test_wrong_checkpoint_files_are_named(tmp_path):
    with pytest.raises(CorrosegInputError, match="no such checkpoint"):
        create("corroseg", pretrained=tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(CorrosegInputError, match="not a readable PyTorch checkpoint"):
        create("corroseg", pretrained=tmp_path / "junk.pth")
    torch.save(torch.nn.Linear(3, 3).state_dict(), tmp_path / "linear.pth")
    with pytest.raises(CorrosegInputError, match="not a ResNet-50 checkpoint"):
        create("corroseg", pretrained=tmp_path / "linear.pth")
    state = ResNet50(3, 1000).state_dict()
    state["layer2.0.conv1.weight"] = torch.zeros(128, 256, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(CorrosegInputError, match="shape of layer2.0.conv1.weight"):
        create("corroseg", pretrained=tmp_path / "shape.pth")


def test_freeze_and_gradual_unfreeze():
    model = create("corroseg", freeze_encoder=True)
    assert model.encoder_blocks_trainable() == [False] * 5
    assert all(p.requires_grad for p in model.decoder.parameters())
    model.unfreeze_blocks(2)
    assert model.encoder_blocks_trainable() == [True, True, False, False, False]
    model(torch.randn(2, 1, 36, 36)).mean().backward()
    assert model.encoder.layer4[0].conv1.weight.grad is not None
    assert model.encoder.layer1[0].conv1.weight.grad is None
    assert [blocks_to_unfreeze(e, every=2) for e in range(0, 14, 2)] == [0, 1, 2, 3, 4, 5, 5]


def test_models_cli_json():
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in json.loads(result.stdout)}
    assert PAPER_MODELS <= set(listed)
    assert listed["corroseg"]["parameters"] > 25_000_000 and listed["corroseg"]["flops_per_patch"] > 1e9
    human = CliRunner().invoke(app, ["models"])
    assert human.exit_code == 0 and "xscat_unet" in human.output


def test_create_rejects_unknown_options_by_signature_before_building():
    from corroseg.errors import CorrosegUserError
    from corroseg.models.registry import accepted_options

    assert accepted_options("corroseg") == ["skip", "decoder_bn", "dropout", "pretrained", "freeze_encoder"]
    with pytest.raises(CorrosegUserError) as info:
        create("corroseg", skp="cat")
    message = str(info.value)
    assert message.startswith("corroseg: unknown option 'skp'")
    assert "did you mean 'skip'" in message
    assert "accepted: skip, decoder_bn, dropout, pretrained, freeze_encoder" in message
    with pytest.raises(CorrosegUserError, match=r"unknown options 'colour', 'size'"):
        create("fcn_bilinear", colour="blue", size=3)
    with pytest.raises(CorrosegUserError, match="did you mean 'xscat_unet'"):
        create("xscat_unt")
    with pytest.raises(CorrosegUserError, match="unknown model"):
        accepted_options("unet9000")


def test_create_turns_only_deliberate_value_checks_into_user_errors(monkeypatch):
    from corroseg.errors import CorrosegUserError
    from corroseg.models import registry

    for name, options, words in [
        ("corroseg", {"skip": "sum"}, "skip must be 'add' or 'cat'"),
        ("corroseg", {"dropout": "medium"}, "dropout must be one of"),
        ("corroseg", {"decoder_bn": "no"}, "decoder_bn must be true or false"),
        ("fcn_transpose", {"channels": (8, 16)}, "channels must be 3 positive integers"),
        ("xscat_unet", {"dropout": (0.1, 1.5, 0.1)}, "dropout must be 3 rates"),
        ("sadd_unet", {"width": 0}, "width must be a positive integer"),
        ("baseline_cnn", {"size": 8}, "size must be an integer above 10"),
    ]:
        with pytest.raises(CorrosegUserError, match=words):
            create(name, **options)

    # a TypeError from a bug inside a constructor is not dressed up as a bad option
    class Broken(torch.nn.Module):
        def __init__(self, depth: int = 2):
            super().__init__()
            len(depth)  # a bug: TypeError

    monkeypatch.setitem(registry._REGISTRY, "broken", Broken)
    with pytest.raises(TypeError) as info:
        create("broken", depth=3)
    assert not isinstance(info.value, ValueError)
    with pytest.raises(CorrosegUserError, match="accepted: depth"):
        create("broken", deep=3)


def test_wellnet_padding_circular_sees_the_seam_and_zeros_does_not():
    """Rolling the input along azimuth rolls a circular WellNet's output exactly; zero padding breaks that."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, 72, 36)
    for padding, equivariant in (("circular", True), ("zeros", False)):
        torch.manual_seed(1)
        model = create("wellnet", padding=padding).eval()
        with torch.no_grad():
            rolled = model(torch.roll(x, 12, dims=-1))
            expected = torch.roll(model(x), 12, dims=-1)
        assert torch.allclose(rolled, expected, atol=1e-5) == equivariant, padding
    with pytest.raises(CorrosegUserError, match="padding"):
        create("wellnet", padding="reflect")


def test_wellnet_attention_gates_train_and_keep_the_shape():
    model = create("wellnet", attention=True)
    assert sum(p.numel() for p in model.parameters()) > sum(p.numel() for p in create("wellnet").parameters())
    x = torch.randn(2, 1, 150, 36)
    out = model(x)
    assert out.shape == x.shape
    out.mean().backward()
    assert all(g.theta.weight.grad is not None for g in model.gates)
    with pytest.raises(CorrosegUserError, match="attention"):
        create("wellnet", attention="yes")


def test_wellnet_depth_context_reaches_rows_the_plain_network_does_not_see():
    """A change 70 rows away moves the output only with a 145-row depth context."""
    x = torch.randn(1, 1, 288, 36, generator=torch.Generator().manual_seed(0))
    nudged = x.clone()
    nudged[..., 60, :] += 5.0
    for context, reaches in (((), False), ((145,), True)):
        torch.manual_seed(1)
        model = create("wellnet", depth_context=context).eval()
        with torch.no_grad():
            change = (model(nudged) - model(x))[..., 131, :].abs().max().item()
        assert (change > 1e-6) == reaches, (context, change)
    for bad in ([4], [1], 145, ["145"], None, 145.0, [145.0]):
        with pytest.raises(CorrosegUserError, match="depth_context"):
            create("wellnet", depth_context=bad)


def test_depth_context_running_mean_is_average_pooling_without_the_padding():
    from corroseg.models.wellnet import running_mean

    x = torch.randn(2, 4, 100, 36, generator=torch.Generator().manual_seed(0))
    for rows in (3, 31, 145):
        pooled = F.avg_pool2d(x, (rows, 1), stride=1, padding=(rows // 2, 0), count_include_pad=False)
        assert torch.allclose(running_mean(x, rows), pooled, atol=1e-5)
    assert torch.allclose(running_mean(x, 575), x.mean(dim=-2, keepdim=True).expand_as(x), atol=1e-5)  # taller than x


def test_slanted_depth_context_integrates_a_slanted_line_along_itself():
    from corroseg.models.wellnet import running_mean, slanted_mean

    x = torch.randn(2, 4, 100, 36, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(slanted_mean(x, 21, 0.0), running_mean(x, 21))
    line = torch.zeros(1, 1, 200, 36)
    for row in range(200):  # a thin line drifting 0.1 px a row, across the azimuth seam
        line[0, 0, row, (30 + round(0.1 * row)) % 36] = 1.0
    along = slanted_mean(line, 51, 0.1)[0, 0, 100]
    assert along.max().item() == pytest.approx(1.0) and along.argmax().item() == (30 + 10) % 36
    assert running_mean(line, 51)[0, 0, 100].max().item() < 0.25  # a vertical mean smears it
    # any height works (WellNet pads to a multiple of the slanted means' pooling inside)
    model = create("wellnet", depth_context=[145], context_slopes=[-0.1, 0.0, 0.1]).eval()
    assert model(torch.randn(1, 1, 100, 36)).shape == (1, 1, 100, 36)
    for bad in ([2.0], "0.1", [True], None):
        with pytest.raises(CorrosegUserError, match="context_slopes"):
            create("wellnet", depth_context=[145], context_slopes=bad)
    with pytest.raises(CorrosegUserError, match="context_slopes"):
        create("wellnet", context_slopes=[0.1])  # nothing to average over
    # beside the vertical means: both kinds of evidence, twice the context's channels
    beside = create("wellnet", depth_context=[145], context_slopes=[-0.1, 0.1], context_beside=True)
    assert beside.context.channels == 2 * model.context.channels and beside(torch.randn(1, 1, 100, 36)).shape[-2] == 100
    for bad in ({"context_beside": "yes", "context_slopes": [0.1]}, {"context_beside": True}):
        with pytest.raises(CorrosegUserError, match="context_beside"):
            create("wellnet", depth_context=[145], **bad)
