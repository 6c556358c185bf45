"""`ktui sim` as a user runs it: starts, writes a kubeconfig, stops cleanly on Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import kubernetes
import yaml

from ktui.cli import sim as sim_cli


def test_register_adds_the_sim_subcommand() -> None:
    parser = argparse.ArgumentParser()
    sim_cli.register(parser.add_subparsers())
    args = parser.parse_args(["sim", "--nodes", "5", "--gpus-per-node", "0", "--speed", "10",
                              "--kubeconfig-out", "/tmp/x", "--history", "50"])
    assert args.func is sim_cli.run
    assert (args.nodes, args.gpus_per_node, args.speed, args.history) == (5, 0, 10.0, 50)
    assert args.port == 0 and args.pods == 0


def test_a_speed_of_zero_or_less_is_refused_with_the_reason(capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    sim_cli.register(parser.add_subparsers())
    for bad, why in (("0", "must be above 0"), ("-2", "must be above 0"), ("nan", "must be above 0"),
                     ("fast", "not a number")):
        try:
            parser.parse_args(["sim", "--speed", bad])
        except SystemExit as e:
            assert e.code == 2
        else:
            raise AssertionError(f"--speed {bad} was accepted")
        err = capsys.readouterr().err
        assert "--speed" in err and why in err, err
    assert parser.parse_args(["sim", "--speed", "0.5"]).speed == 0.5


def test_ktui_sim_serves_until_interrupted(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ktui", "sim", "--nodes", "2", "--gpus-per-node", "0",
         "--port", "0", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("ktui sim: serving http://127.0.0.1:"), first
        assert "2 nodes" in first
        assert f"export KUBECONFIG={kubeconfig}" in proc.stdout.readline()
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["current-context"] == "ktui-sim"
        assert config["contexts"][0]["context"]["namespace"] == "default"
        api = kubernetes.config.new_client_from_config(str(kubeconfig))
        nodes = kubernetes.client.CoreV1Api(api).list_node().items
        assert [n.status.allocatable.get("nvidia.com/gpu") for n in nodes] == [None, None]
        api.close()
    finally:
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_gpu_telemetry_flags(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    sim_cli.register(parser.add_subparsers())
    args = parser.parse_args(["sim"])
    assert (args.gpu_telemetry, args.mig_node, args.dcgm_interval) == ("dcgm+prometheus", None, 30.0)
    args = parser.parse_args(["sim", "--gpu-telemetry", "prometheus", "--mig-node", "1"])
    assert (args.gpu_telemetry, args.mig_node) == ("prometheus", 1)
    try:
        parser.parse_args(["sim", "--gpu-telemetry", "both"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("--gpu-telemetry both was accepted")
    assert "invalid choice: 'both'" in capsys.readouterr().err
    # A MIG node that does not exist: the reason, and nothing started.
    args = parser.parse_args(["sim", "--nodes", "2", "--mig-node", "2",
                              "--kubeconfig-out", str(tmp_path / "kc")])
    assert sim_cli.run(args) == 2
    assert "mig_node 2 is not the index of a GPU node (0-1" in capsys.readouterr().err
    assert not (tmp_path / "kc").exists()
