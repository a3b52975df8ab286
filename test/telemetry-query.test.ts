import { describe, expect, it } from "vitest";
import { ApiError } from "../src/http/errors";
import {
  decodeCursor,
  encodeCursor,
  formatTimestamp,
  MAX_CONDITIONS,
  parsePaging,
  parseSampleQuery,
  parseTimestamp,
  type QueryField,
} from "../src/telemetry/query";

type Condition = { field?: string; op?: string; value?: string; type?: string };

/** The query string ceilometerclient's build_url makes: each name repeated, sorted by name, `+` for spaces. */
function clientQuery(conditions: Condition[], extra: Record<string, string> = {}): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of ["field", "op", "type", "value"] as const) {
    for (const c of conditions) params.append(`q.${name}`, c[name] ?? "");
  }
  for (const [k, v] of Object.entries(extra)) params.append(k, v);
  return new URLSearchParams(params.toString());
}

function refusal(params: URLSearchParams, fields?: readonly QueryField[]): string {
  try {
    parseSampleQuery(params, fields);
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(400);
    return (e as ApiError).message;
  }
  throw new Error(`accepted: ${params}`);
}

const us = (iso: string) => Date.parse(iso) * 1000;

describe("parseSampleQuery: fields and operators", () => {
  const stringFields = ["project_id", "resource_id", "resource_name", "meter", "namespace", "user_id", "source"];

  it.each(stringFields)("%s takes eq (also as the default, and with type string)", (field) => {
    for (const op of ["eq", ""]) {
      for (const type of ["", "string"]) {
        expect(parseSampleQuery(clientQuery([{ field, op, type, value: "v 1" }]))).toMatchObject({
          equals: [{ field, value: "v 1" }],
          metadata: [],
        });
      }
    }
  });

  it.each(stringFields.flatMap((f) => ["ne", "lt", "le", "gt", "ge", "like", "EQ"].map((op) => [f, op])))(
    "%s refuses the operator %s",
    (field, op) => {
      expect(refusal(clientQuery([{ field, op, value: "x" }]))).toBe(
        `Unimplemented operator '${op}' for specified field.`,
      );
    },
  );

  it("timestamp takes ge and gt as the start, le and lt as the end", () => {
    const q = parseSampleQuery(
      clientQuery([
        { field: "timestamp", op: "ge", value: "2015-11-14T02:25:00" },
        { field: "timestamp", op: "lt", value: "2015-11-15T00:00:00", type: "datetime" },
      ]),
    );
    expect(q).toEqual({
      equals: [],
      metadata: [],
      projectsNamed: [],
      start: { us: us("2015-11-14T02:25:00Z"), inclusive: true },
      end: { us: us("2015-11-15T00:00:00Z"), inclusive: false },
    });
    const q2 = parseSampleQuery(
      clientQuery([
        { field: "timestamp", op: "gt", value: "2015-11-14T02:25:00" },
        { field: "timestamp", op: "le", value: "2015-11-15T00:00:00" },
      ]),
    );
    expect(q2.start).toEqual({ us: us("2015-11-14T02:25:00Z"), inclusive: false });
    expect(q2.end).toEqual({ us: us("2015-11-15T00:00:00Z"), inclusive: true });
  });

  it("keeps the tighter of two bounds on the same side", () => {
    const q = parseSampleQuery(
      clientQuery([
        { field: "timestamp", op: "ge", value: "2015-01-01" },
        { field: "timestamp", op: "gt", value: "2015-01-02" },
        { field: "timestamp", op: "le", value: "2015-02-01" },
        { field: "timestamp", op: "lt", value: "2015-02-01" },
      ]),
    );
    expect(q.start).toEqual({ us: us("2015-01-02T00:00:00Z"), inclusive: false });
    expect(q.end).toEqual({ us: us("2015-02-01T00:00:00Z"), inclusive: false });
  });

  it.each(["eq", "ne", "", "EQ", "Ge"])("timestamp refuses the operator %j (empty is eq)", (op) => {
    const shown = op.trim() || "eq";
    expect(refusal(clientQuery([{ field: "timestamp", op, value: "2015-01-01" }]))).toBe(
      `Unimplemented operator '${shown}' for specified field.`,
    );
  });

  it("ANDs several conditions in order", () => {
    const q = parseSampleQuery(
      clientQuery([
        { field: "meter", value: "cpu_util" },
        { field: "project_id", op: "eq", value: "p1" },
        { field: "resource_id", value: "vm-1" },
      ]),
    );
    expect(q.equals).toEqual([
      { field: "meter", value: "cpu_util" },
      { field: "project_id", value: "p1" },
      { field: "resource_id", value: "vm-1" },
    ]);
  });

  it("reads `+` as a space and keeps unicode values", () => {
    const q = parseSampleQuery(new URLSearchParams("q.field=resource_name&q.value=web+server+%C3%A9t%C3%A9"));
    expect(q.equals).toEqual([{ field: "resource_name", value: "web server été" }]);
  });

  it("accepts only the fields a resource names (the meter list takes no timestamp)", () => {
    const meterFields = ["project_id", "resource_id", "meter", "user_id", "source"] as const;
    expect(parseSampleQuery(clientQuery([{ field: "user_id", value: "u" }]), meterFields).equals).toEqual([
      { field: "user_id", value: "u" },
    ]);
    expect(refusal(clientQuery([{ field: "namespace", value: "nova" }]), meterFields)).toBe(
      'Unrecognized field in query. valid keys:["project_id", "resource_id", "meter", "user_id", "source"]',
    );
    expect(refusal(clientQuery([{ field: "timestamp", op: "ge", value: "2015-01-01" }]), meterFields)).toBe(
      'Unknown argument: "timestamp": not valid for this resource',
    );
  });

  it("is empty without conditions", () => {
    expect(parseSampleQuery(new URLSearchParams("limit=5"))).toEqual({ equals: [], metadata: [], projectsNamed: [] });
  });
});

describe("parseSampleQuery: types", () => {
  it.each([
    ["integer", "42"],
    ["integer", "-7"],
    ["float", "1.5"],
    ["float", "2e3"],
    ["float", ".5"],
    ["boolean", "true"],
    ["boolean", "No"],
    ["boolean", "1"],
    ["string", "anything"],
    ["datetime", "2015-11-14T02:25:00"],
  ])("a string field with type %s accepts %j and compares it as written", (type, value) => {
    expect(parseSampleQuery(clientQuery([{ field: "resource_id", type, value }])).equals).toEqual([
      { field: "resource_id", value },
    ]);
  });

  it.each([
    ["integer", "4.2"],
    ["integer", "abc"],
    ["integer", "99999999999999999999"],
    ["integer", "1e3"],
    ["float", "abc"],
    ["float", "1e400"],
    ["float", "NaN"],
    ["float", "1.2.3"],
    ["boolean", "maybe"],
    ["boolean", "2"],
  ])("type %s refuses %j word for word", (type, value) => {
    expect(refusal(clientQuery([{ field: "project_id", type, value }]))).toBe(
      `Unable to convert the value '${value}' to the expected data type '${type}'.`,
    );
  });

  it("a string field typed datetime must hold a datetime", () => {
    expect(refusal(clientQuery([{ field: "source", type: "datetime", value: "soon" }]))).toBe(
      `Unexpected exception converting 'soon' to the expected data type "datetime".`,
    );
  });

  it.each(["xxxx", "int", "Datetime", "date"])("refuses the unknown type %j", (type) => {
    expect(refusal(clientQuery([{ field: "meter", type, value: "cpu" }]))).toBe(
      `The data type '${type}' is not supported. The supported data type list is: ['integer', 'float', 'boolean', 'string', 'datetime']`,
    );
  });

  it.each(["integer", "float", "boolean", "string"])("timestamp refuses the type %s", (type) => {
    expect(refusal(clientQuery([{ field: "timestamp", op: "ge", type, value: "2015-01-01" }]))).toBe(
      `Unimplemented data type '${type}' for timestamp. valid data types: ["datetime"]`,
    );
  });
});

describe("parseSampleQuery: error messages word for word", () => {
  it.each<[string, string]>([
    ["q.field=&q.value=x", "Field can't be blank."],
    ["q.value=x", "Field can't be blank."],
    ["q.field=meter&q.value=", "Value can't be blank."],
    ["q.field=meter", "Value can't be blank."],
    ["q.field=meter&q.value=+++", "Value can't be blank."],
    [
      "q.field=flavor&q.value=x",
      'Unrecognized field in query. valid keys:["project_id", "timestamp", "resource_id", "resource_name", "meter", "namespace", "user_id", "source", "message_id", "search_offset"]',
    ],
    ["q.field=meter&q.op=xxxx&q.value=x", "Unimplemented operator 'xxxx' for specified field."],
    [
      "q.field=meter&q.type=xxxx&q.value=x",
      "The data type 'xxxx' is not supported. The supported data type list is: ['integer', 'float', 'boolean', 'string', 'datetime']",
    ],
    [
      "q.field=timestamp&q.op=ge&q.type=integer&q.value=1",
      "Unimplemented data type 'integer' for timestamp. valid data types: [\"datetime\"]",
    ],
    [
      "q.field=project_id&q.type=integer&q.value=xxxx",
      "Unable to convert the value 'xxxx' to the expected data type 'integer'.",
    ],
    [
      "q.field=timestamp&q.op=ge&q.value=xxxx",
      `Unexpected exception converting 'xxxx' to the expected data type "datetime".`,
    ],
    [
      "q.field=timestamp&q.field=timestamp&q.op=ge&q.op=le&q.value=2015-11-15T00:00:00&q.value=2015-11-14T00:00:00",
      "Please designate end_timestamp newer than start_timestamp.",
    ],
  ])("%s → %s", (query, message) => {
    expect(refusal(new URLSearchParams(query))).toBe(message);
  });

  it("compares start and end in UTC, after their offsets", () => {
    // 10:00+02:00 is 08:00Z, before 09:00Z: a valid range although 10 > 09 on the face of it.
    const q = parseSampleQuery(
      clientQuery([
        { field: "timestamp", op: "ge", value: "2015-11-14T10:00:00+02:00" },
        { field: "timestamp", op: "le", value: "2015-11-14T09:00:00Z" },
      ]),
    );
    expect(q.start?.us).toBe(us("2015-11-14T08:00:00Z"));
    expect(
      refusal(
        clientQuery([
          { field: "timestamp", op: "ge", value: "2015-11-14T08:00:00-02:00" },
          { field: "timestamp", op: "le", value: "2015-11-14T09:00:00Z" },
        ]),
      ),
    ).toBe("Please designate end_timestamp newer than start_timestamp.");
  });
});

describe("malformed queries: all 400, never a 500", () => {
  const table: string[] = [
    // repeated and unequal groups
    "q.field=meter&q.field=project_id&q.value=cpu",
    "q.field=meter&q.value=cpu&q.value=extra",
    "q.op=eq&q.value=cpu",
    "q.field=meter&q.op=eq&q.op=ge&q.value=cpu",
    "q.field=meter&q.value=cpu&q.type=&q.type=string",
    "q.field=meter&q.field=&q.value=a&q.value=b",
    "q.field=timestamp&q.field=timestamp&q.op=ge&q.value=2015-01-01",
    // empty values
    "q.field=&q.op=&q.value=&q.type=",
    "q.field=meter&q.op=eq&q.value=&q.type=string",
    "q.field=timestamp&q.op=ge&q.value=%20",
    // unicode
    "q.field=m%C3%A8tre&q.value=cpu",
    "q.field=meter&q.op=%E2%89%A5&q.value=cpu",
    "q.field=meter&q.type=%E6%95%B4%E6%95%B0&q.value=1",
    "q.field=timestamp&q.op=ge&q.value=%EF%BC%92%EF%BC%90%EF%BC%91%EF%BC%95-01-01",
    "q.field=timestamp&q.op=ge&q.value=2015-01-01T00%3A00%3A00%E2%80%8B",
    "q.field=%00&q.value=x",
    // huge numbers
    "q.field=project_id&q.type=integer&q.value=123456789012345678901234567890",
    "q.field=project_id&q.type=float&q.value=1e999",
    "q.field=timestamp&q.op=ge&q.value=99999-01-01",
    "q.field=timestamp&q.op=ge&q.value=1447467900",
    // bad dates, with and without zones
    "q.field=timestamp&q.op=ge&q.value=2015-02-30",
    "q.field=timestamp&q.op=ge&q.value=2015-13-01T00:00:00",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T24:00:00",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:60:00",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:61Z",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00%2B25:00",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00-00:61",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00 CET",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00%2B",
    "q.field=timestamp&q.op=ge&q.value=0000-01-01T00:00:00",
    "q.field=timestamp&q.op=ge&q.value=0001-01-01T00:30:00%2B01:00",
    "q.field=timestamp&q.op=ge&q.value=14/11/2015",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00.",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00.1234567890",
    "q.field=timestamp&q.op=ge&q.value=2015-11-14T02:25:00ZZ",
    "q.field=timestamp&q.op=ge&q.type=datetime&q.value=yesterday",
  ];

  it.each(table)("%s", (query) => {
    const params = new URLSearchParams(query);
    let outcome: unknown;
    try {
      parseSampleQuery(params);
    } catch (e) {
      outcome = e;
    }
    expect(outcome).toBeInstanceOf(ApiError);
    expect((outcome as ApiError).status).toBe(400);
    expect((outcome as ApiError).message.length).toBeGreaterThan(10);
  });
});

describe("datetimes", () => {
  it.each<[string, string]>([
    ["2015-11-14T02:25:00", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14 02:25:00", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T02:25:00Z", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T02:25:00+00:00", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T03:25:00+01:00", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T03:25:00+0100", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T03:25:00+01", "2015-11-14T02:25:00+00:00"],
    ["2015-11-13T21:55:00-04:30", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T08:55:00 06:30", "2015-11-14T02:25:00+00:00"], // `+06:30` sent unencoded: its `+` became a space
    ["2015-11-14T01:00:00+05:00", "2015-11-13T20:00:00+00:00"], // crosses midnight, not truncated
    ["2015-11-14", "2015-11-14T00:00:00+00:00"],
    ["2015-11-14T02:25", "2015-11-14T02:25:00+00:00"],
    ["2015-11-14T02:25:00.5", "2015-11-14T02:25:00.500000+00:00"],
    ["2015-11-14T02:25:00.123456789", "2015-11-14T02:25:00.123456+00:00"],
    ["2016-02-29T12:00:00", "2016-02-29T12:00:00+00:00"],
    ["1969-12-31T23:59:59.999999", "1969-12-31T23:59:59.999999+00:00"],
    ["0001-01-01T00:00:00", "0001-01-01T00:00:00+00:00"],
  ])("%s is %s", (input, utc) => {
    const value = parseTimestamp(input);
    expect(value).not.toBeNull();
    expect(formatTimestamp(value!)).toBe(utc);
  });

  it.each(["2015-02-29", "1900-02-29", "2015-04-31", "", "2015", "2015-11-14T02:25:00+24:00"])(
    "%j is not a datetime",
    (input) => {
      expect(parseTimestamp(input)).toBeNull();
    },
  );
});

describe("paging arguments", () => {
  it("defaults to 100 per page from page 1; limit wins over per_page; both stop at 1000", () => {
    expect(parsePaging(new URLSearchParams(""))).toEqual({ perPage: 100, page: 1, cursor: null });
    expect(parsePaging(new URLSearchParams("per_page=20&page=3"))).toMatchObject({ perPage: 20, page: 3 });
    expect(parsePaging(new URLSearchParams("limit=5&per_page=20"))).toMatchObject({ perPage: 5 });
    expect(parsePaging(new URLSearchParams("limit=5000"))).toMatchObject({ perPage: 1000 });
    expect(parsePaging(new URLSearchParams("per_page=1001"))).toMatchObject({ perPage: 1000 });
  });

  it.each(["limit", "per_page", "page"])("%s must be a positive integer", (name) => {
    for (const raw of ["0", "-1", "abc", "1.5", "", "1e3", "99999999999999999999"]) {
      try {
        parsePaging(new URLSearchParams({ [name]: raw }));
        throw new Error(`accepted ${name}=${raw}`);
      } catch (e) {
        expect((e as ApiError).status, `${name}=${raw}`).toBe(400);
        expect((e as ApiError).message).toBe(`Invalid ${name} '${raw}': it must be a positive integer.`);
      }
    }
  });

  it("a cursor round-trips, and a forged one is a 400", () => {
    const cursor = { timestamp: us("2015-11-14T02:25:00Z"), seq: 42, total: 1000, exact: false };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(decodeCursor(encodeCursor({ ...cursor, total: 7, exact: true }))).toEqual({
      ...cursor,
      total: 7,
      exact: true,
    });
    expect(parsePaging(new URLSearchParams({ cursor: encodeCursor(cursor), page: "2" }))).toEqual({
      perPage: 100,
      page: 2,
      cursor,
    });
    for (const bad of ["", "!!!", btoa("1.2"), btoa("a.b.c")]) {
      expect(() => parsePaging(new URLSearchParams({ cursor: bad }))).toThrow(/Invalid cursor/);
    }
  });
});

describe("Ceilometer's client: metadata, message_id, search_offset, repeated fields", () => {
  const meta = (value: string, type = "", field = "metadata.flavor") =>
    parseSampleQuery(clientQuery([{ field, op: "eq", value, type }])).metadata;

  it("types a metadata value by q.type, else as a Python literal reads", () => {
    expect(meta("m1.large")).toEqual([{ key: "flavor", kind: "s", value: "m1.large" }]);
    expect(meta("2")).toEqual([{ key: "flavor", kind: "n", value: 2 }]);
    expect(meta("-1.5e3")).toEqual([{ key: "flavor", kind: "n", value: -1500 }]);
    expect(meta("007")).toEqual([{ key: "flavor", kind: "s", value: "007" }]);
    expect(meta("True")).toEqual([{ key: "flavor", kind: "b", value: 1 }]);
    expect(meta("true")).toEqual([{ key: "flavor", kind: "s", value: "true" }]);
    expect(meta("'2'")).toEqual([{ key: "flavor", kind: "s", value: "2" }]);
    expect(meta("2", "string")).toEqual([{ key: "flavor", kind: "s", value: "2" }]);
    expect(meta("2", "float")).toEqual([{ key: "flavor", kind: "n", value: 2 }]);
    expect(meta("off", "boolean")).toEqual([{ key: "flavor", kind: "b", value: 0 }]);
    expect(meta("m1", "string", "resource_metadata.flavor.name")).toEqual([
      { key: "flavor.name", kind: "s", value: "m1" },
    ]);
  });

  it("refuses what Ceilometer refuses on metadata", () => {
    expect(refusal(clientQuery([{ field: "metadata.size", op: "gt", value: "5" }]))).toBe(
      "Unimplemented operator 'gt' for specified field.",
    );
    expect(refusal(clientQuery([{ field: "metadata.size", value: "x", type: "integer" }]))).toBe(
      "Unable to convert the value 'x' to the expected data type 'integer'.",
    );
    expect(refusal(clientQuery([{ field: "metadata.size", value: "x", type: "int" }]))).toMatch(
      /^The data type 'int' is not supported/,
    );
    expect(refusal(clientQuery([{ field: "metadata.size", value: "[1, 2]" }]))).toBe(
      "Query on metadata.size is of list type and is not supported",
    );
    expect(refusal(clientQuery([{ field: "metadata.", value: "x" }]))).toMatch(/^Unrecognized field in query/);
    const meterFields = ["project_id", "resource_id", "meter", "user_id", "source"] as const;
    expect(() =>
      parseSampleQuery(clientQuery([{ field: "metadata.a", value: "x" }]), meterFields, { metadata: false }),
    ).toThrow(/Unrecognized field/);
  });

  it("keeps the last value of a field or metadata key given twice; every project named is kept for the access check", () => {
    const q = parseSampleQuery(
      clientQuery([
        { field: "project_id", value: "p1" },
        { field: "metadata.a", value: "1" },
        { field: "project_id", value: "p2" },
        { field: "metadata.a", value: "x" },
      ]),
    );
    expect(q.equals).toEqual([{ field: "project_id", value: "p2" }]);
    expect(q.metadata).toEqual([{ key: "a", kind: "s", value: "x" }]);
    expect(q.projectsNamed).toEqual(["p1", "p2"]);
  });

  it("message_id is an eq field", () => {
    expect(parseSampleQuery(clientQuery([{ field: "message_id", value: "abc" }])).equals).toEqual([
      { field: "message_id", value: "abc" },
    ]);
    expect(refusal(clientQuery([{ field: "message_id", op: "ne", value: "abc" }]))).toBe(
      "Unimplemented operator 'ne' for specified field.",
    );
  });

  it("search_offset widens the timestamp range by its minutes on both sides, and needs one", () => {
    const q = parseSampleQuery(
      clientQuery([
        { field: "timestamp", op: "ge", value: "2015-11-14T02:00:00" },
        { field: "timestamp", op: "lt", value: "2015-11-14T03:00:00" },
        { field: "search_offset", value: "30" },
      ]),
    );
    expect(q.start).toEqual({ us: us("2015-11-14T01:30:00Z"), inclusive: true });
    expect(q.end).toEqual({ us: us("2015-11-14T03:30:00Z"), inclusive: false });
    expect(refusal(clientQuery([{ field: "search_offset", value: "30" }]))).toMatch(
      /search_offset cannot be used without timestamp/,
    );
    expect(
      refusal(
        clientQuery([
          { field: "timestamp", op: "ge", value: "2015-11-14" },
          { field: "search_offset", value: "x" },
        ]),
      ),
    ).toBe("Unable to convert the value 'x' to the expected data type 'integer'.");
    expect(refusal(clientQuery([{ field: "search_offset", value: "3" }]), ["project_id"])).toBe(
      'Unknown argument: "search_offset": not valid for this resource',
    );
  });

  it(`refuses more than ${MAX_CONDITIONS} conditions, counted before anything else`, () => {
    const conds = (n: number) => Array.from({ length: n }, (_, i) => ({ field: "resource_id", value: `r${i}` }));
    expect(parseSampleQuery(clientQuery(conds(MAX_CONDITIONS))).equals).toHaveLength(1);
    expect(refusal(clientQuery(conds(120)))).toBe(
      `Too many conditions in query: 120. A query holds at most ${MAX_CONDITIONS} (q.field, q.op, q.value, q.type).`,
    );
    expect(refusal(new URLSearchParams(Array.from({ length: 40 }, () => ["q.op", "eq"])))).toMatch(
      /^Too many conditions/,
    );
  });
});
