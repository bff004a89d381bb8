"""Peak memory of the push step moving one large object from S3 to sync. labs storage.

    .venv/bin/python -m tests.bench.push_memory 1024        # MiB; prints the push and a plain copy
    .venv/bin/python -m tests.bench.push_memory lambda      # the push at Lambda's CPU share per MemorySize

moto and the emulator run as their own processes, the object is put by another, so the figure is
the push step's own: the process that runs ``push_media`` reports its peak RSS (``ru_maxrss``).
Not part of ``make test``: it moves gigabytes.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

BUCKET = "bench-jobs"
KEY = "media/big.mp4"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _put_object(size: int) -> None:
    """Upload a sparse file of ``size`` bytes that starts like an MP4 (in its own process)."""
    path = Path(f"/tmp/revoice-bench-{size}.mp4")
    with path.open("wb") as out:
        out.write(MP4_HEAD)
        out.truncate(size)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(path), BUCKET, KEY)
    path.unlink()


def _push(emulator_url: str, api_key: str) -> dict[str, float]:
    """Run the push step as its Lambda would, and report this process's memory."""
    from revoice.aws.s3 import S3ObjectStore
    from revoice.pipeline.clock import now
    from revoice.pipeline.manifest import JobManifest
    from revoice.pipeline.push import push_media
    from revoice.pipeline.state import JobRef, JobState, RunConfig
    from revoice.sync import SyncClient

    class NoTable:
        def entered(self, *_: object) -> None:
            pass

    state = JobState(
        job=JobRef(id="bench-0000000000000000", bucket=BUCKET, key="inbox/bench.json", version="v", received_at=now()),
        manifest=JobManifest(source=KEY, script="bench"),
        config=RunConfig(),
    )
    client = SyncClient(api_key, base_url=emulator_url, timeout=600)
    store = S3ObjectStore(BUCKET, boto3.client("s3"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    pushed = push_media(state, store=store, sync=client, jobs=NoTable())  # type: ignore[arg-type]
    took = time.monotonic() - started
    assert pushed.assets is not None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mib = pushed.assets.source.size / 2**20
    return {
        "size_mib": size_mib,
        "baseline_rss_mib": round(before, 1),
        "peak_rss_mib": round(peak, 1),
        "seconds": round(took, 2),
        "mib_per_s": round(size_mib / took, 1),
    }


def _plain_copy(emulator_url: str, api_key: str) -> dict[str, float]:
    """The physical limit: the same bytes from S3 to a presigned URL, with nothing of revoice in between."""
    s3 = boto3.client("s3")
    size = s3.head_object(Bucket=BUCKET, Key=KEY)["ContentLength"]
    ticket = httpx.post(
        f"{emulator_url}/v2/assets/upload",
        headers={"x-api-key": api_key},
        json={"fileName": "plain.mp4", "contentType": "video/mp4", "size": size},
    ).json()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    body = s3.get_object(Bucket=BUCKET, Key=KEY)["Body"]
    answer = httpx.put(
        ticket["uploadUrl"],
        content=iter(lambda: body.read(1024 * 1024), b""),
        headers={"content-type": "video/mp4", "content-length": str(size)},
        timeout=600,
    )
    answer.raise_for_status()
    took = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size_mib": size / 2**20,
        "baseline_rss_mib": round(before, 1),
        "peak_rss_mib": round(peak, 1),
        "seconds": round(took, 2),
        "mib_per_s": round(size / 2**20 / took, 1),
    }


LAMBDA_MB_PER_VCPU = 1769  # Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU
CPU_CGROUP = Path("/sys/fs/cgroup/cpu")


def _cpu_share(share: float) -> tuple[Any, Path]:
    """A ``preexec_fn`` that puts the child in a cgroup (v1) with ``share`` of one CPU, as Lambda would."""
    group = CPU_CGROUP / f"revoice-bench-{os.getpid()}-{int(share * 1000)}"
    group.mkdir(exist_ok=True)
    (group / "cpu.cfs_period_us").write_text("100000")
    (group / "cpu.cfs_quota_us").write_text(str(int(share * 100000)))

    def enter() -> None:
        (group / "cgroup.procs").write_text(str(os.getpid()))

    return enter, group


def measure(size_mib: int, memory_mb: int | None = None) -> dict[str, dict[str, float]]:
    """Both copies of one object of ``size_mib`` MiB, each in a fresh process; servers in their own.

    With ``memory_mb`` the copies get the CPU a Lambda function of that MemorySize gets (cgroup v1 CPU
    quota; moto and the emulator are not limited, as S3 and sync. labs are not the function's)."""
    moto_port, emulator_port = _port(), _port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
    }
    bin_dir = Path(sys.executable).parent
    servers = [
        subprocess.Popen(
            [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [str(bin_dir / "revoice"), "emulator", "--port", str(emulator_port), "--api-key", "bench"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        _wait(f"http://127.0.0.1:{moto_port}/moto-api/")
        _wait(f"http://127.0.0.1:{emulator_port}/health")
        subprocess.run(
            [sys.executable, "-m", "tests.bench.push_memory", "--put", str(size_mib * 2**20)], env=env, check=True
        )
        results = {}
        limit, group = _cpu_share(memory_mb / LAMBDA_MB_PER_VCPU) if memory_mb else (None, None)
        for mode in ("--push", "--plain"):
            done = subprocess.run(
                [sys.executable, "-m", "tests.bench.push_memory", mode, f"http://127.0.0.1:{emulator_port}", "bench"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
                preexec_fn=limit,
            )
            results[mode.strip("-")] = json.loads(done.stdout.strip().splitlines()[-1])
        if group is not None:
            group.rmdir()
        return results
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


def lambda_memory_sizes(size_mib: int = 512, sizes: tuple[int, ...] = (512, 1024, 1769)) -> list[dict[str, float]]:
    """The push at each MemorySize's CPU share, and what fits in Lambda's 900 s at that speed."""
    rows = []
    for memory in sizes:
        push = measure(size_mib, memory)["push"]
        rows.append(
            {
                "memory_mb": memory,
                "mib_per_s": push["mib_per_s"],
                "peak_rss_mib": push["peak_rss_mib"],
                "gib_in_900_s": round(push["mib_per_s"] * 900 / 1024, 1),
            }
        )
    return rows


def main() -> None:
    if sys.argv[1] == "lambda":
        for row in lambda_memory_sizes():
            print(json.dumps(row))
        return
    if sys.argv[1] == "--plain":
        print(json.dumps(_plain_copy(sys.argv[2], sys.argv[3])))
        return
    if sys.argv[1] == "--put":
        _put_object(int(sys.argv[2]))
        return
    if sys.argv[1] == "--push":
        print(json.dumps(_push(sys.argv[2], sys.argv[3])))
        return
    print(json.dumps(measure(int(sys.argv[1]))))


if __name__ == "__main__":
    main()
