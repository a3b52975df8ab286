import { spawnSync } from "node:child_process";
import { describe, expect, inject, it } from "vitest";

// Debian's python3 with python3-requests, replaying python-ceilometerclient 2.9's requests.
const PYTHON = "/usr/bin/python3";

function replay(project: string) {
  const r = spawnSync(
    PYTHON,
    ["test/e2e/ceilometer_client_replay.py", inject("baseUrl"), inject("adminToken"), project],
    {
      encoding: "utf8",
    },
  );
  if (r.error || /No module named 'requests'/.test(r.stderr)) {
    throw new Error(
      `the replay needs ${PYTHON} with requests (apt-get install -y python3-requests): ${r.error ?? r.stderr}`,
    );
  }
  const steps = Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .map((s) => [s.step, s]),
  );
  return { code: r.status, steps, stderr: r.stderr };
}

describe("the ceilometer client's requests against wrangler dev", () => {
  it("sample-create, sample-list with metadata, message_id and search_offset, sample-show, meter-list --unique", () => {
    const project = `cli-${Date.now()}`;
    const { code, steps, stderr } = replay(project);
    expect(code, stderr).toBe(0);
    // String volumes are converted; the source is Ceilometer's `<project>:openstack`.
    expect(steps["sample-create-0"]).toMatchObject({ status: 201, volume: 12.5, source: `${project}:openstack` });
    expect(steps["sample-create-2"]).toMatchObject({ status: 201, volume: 14.5 });
    expect(steps["sample-create-bad-volume"].status).toBe(400);
    expect(steps["sample-create-bad-volume"].message).toContain("counter_volume");
    // The URL is the client's: sorted names, typed values as q.type.
    expect(steps["metadata-integer"].url).toContain("q.type=&q.type=integer&q.value=");
    expect(steps.metadata).toMatchObject({ status: 200, volumes: [14.5, 12.5] });
    expect(steps["resource_metadata-old"]).toMatchObject({ status: 200, volumes: [14.5] });
    expect(steps["metadata-integer"].volumes).toEqual([14.5, 12.5]);
    expect(steps["metadata-string"].volumes).toEqual([]);
    expect(steps["metadata-boolean"].volumes).toEqual([14.5, 13.5, 12.5]);
    // Ceilometer's simple query takes eq only on metadata.
    expect(steps["metadata-ne"].status).toBe(400);
    expect(steps.message_id.volumes).toEqual([13.5]);
    // 00:15 ± 5 minutes reaches the samples at 00:10 and 00:20.
    expect(steps.search_offset.volumes).toEqual([14.5, 13.5]);
    expect(steps["project-twice"].volumes).toEqual([14.5, 13.5, 12.5]);
    expect(steps["sample-show"]).toMatchObject({
      status: 200,
      metadata: { flavor: { name: "m1.large" }, vcpus: 4, ready: true },
    });
    expect(steps["meter-list-unique"]).toMatchObject({
      status: 200,
      meters: [
        {
          name: "cpu_util",
          type: "gauge",
          unit: "%",
          resource_id: null,
          project_id: null,
          user_id: null,
          source: null,
          meter_id: btoa("None+cpu_util"),
        },
      ],
    });
    expect(steps["meter-list"].resources).toEqual(["vm-1", "vm-2"]);
  });
});
