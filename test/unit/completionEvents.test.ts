// The completion event of a recorded outcome: its id, its fields, and the JSON Schema in docs/ that publishes
// it as a contract; and the setting that turns events on.
import { describe, expect, test } from "vitest";
import type { RecordedOutcome } from "../../function/checking/outcomes";
import { SettingsError } from "../../function/contract/appSettings";
import { EVENTS_SETTING, parseEventsTopicEndpoint } from "../../function/contract/completionEvents";
import { completionEvent, completionEventId } from "../../function/events/completion";
import { schemaErrors } from "../support/eventsSchema";

const SOURCE = "https://account.blob.core.windows.net/images";
const accepted: RecordedOutcome = {
  state: "accepted",
  blobName: "alice/2f0c.png",
  eTag: '"0x8DC0FFEE"',
  sequencer: "0001",
  decidedAt: "2026-01-02T03:04:05.678Z",
  url: "https://account.blob.core.windows.net/verified/alice/2f0c.png",
  renditions: [
    {
      name: "alice/2f0c.png.thumb.webp",
      kind: "thumb",
      width: 8,
      height: 8,
      contentType: "image/webp",
      bytes: 40,
    },
  ],
};
const rejected: RecordedOutcome = {
  state: "rejected",
  blobName: "2f0d.png",
  eTag: "0x8DC0FFEF",
  sequencer: "0002",
  decidedAt: "2026-01-02T03:04:06.000Z",
  reason: "the file is HTML, not an image",
  code: "notAnImage",
};
const facts = { contentType: "image/png", size: 120, width: 8, height: 8 };

/** The event as it goes on the wire (the SDK sends `time` as an ISO string and adds specversion). */
const wire = (event: ReturnType<typeof completionEvent>) => ({
  specversion: "1.0",
  ...JSON.parse(JSON.stringify(event)),
});

describe("completion events", () => {
  test("the id depends on the name and the version decided only, whatever the ETag's quoting", () => {
    expect(completionEventId("a.png", '"0x1"')).toBe(completionEventId("a.png", "0x1"));
    expect(completionEventId("a.png", "0x1")).not.toBe(completionEventId("a.png", "0x2"));
    expect(completionEventId("a.png", "0x1")).not.toBe(completionEventId("b.png", "0x1"));
    expect(completionEvent(accepted, SOURCE, facts).id).toBe(
      completionEventId(accepted.blobName, accepted.eTag),
    );
  });

  test("an accepted outcome's event names the owner from the blob name and carries the verified facts, valid against the schema", () => {
    const event = wire(completionEvent(accepted, SOURCE, facts));
    expect(schemaErrors(event)).toEqual([]);
    expect(event).toMatchObject({
      type: "valet.upload.accepted",
      subject: "/uploads/alice/2f0c.png",
      time: accepted.decidedAt,
      data: {
        owner: "alice",
        url: accepted.url,
        size: 120,
        width: 8,
        height: 8,
        renditions: accepted.renditions,
      },
    });
  });

  test("a rejected outcome's event carries the reason and code, and no owner when anonymous, valid against the schema", () => {
    const event = wire(completionEvent(rejected, SOURCE));
    expect(schemaErrors(event)).toEqual([]);
    expect(event.data).toEqual({
      state: "rejected",
      blobName: "2f0d.png",
      reason: rejected.reason,
      code: "notAnImage",
    });
  });

  test("the schema refuses a URL carrying a token, an accepted event without its size, and a rejection without its reason", () => {
    const good = wire(completionEvent(accepted, SOURCE, facts));
    expect(schemaErrors({ ...good, data: { ...good.data, url: `${accepted.url}?sv=x&sig=y` } })).not.toEqual(
      [],
    );
    const { size: _size, ...withoutSize } = good.data;
    expect(schemaErrors({ ...good, data: withoutSize })).not.toEqual([]);
    const bad = wire(completionEvent(rejected, SOURCE));
    const { reason: _reason, ...withoutReason } = bad.data;
    expect(schemaErrors({ ...bad, data: withoutReason })).not.toEqual([]);
    expect(schemaErrors({ ...bad, type: "valet.upload.accepted" })).not.toEqual([]);
  });

  test("the topic endpoint setting is off when unset and refuses anything but an https URL, naming the setting", () => {
    expect(parseEventsTopicEndpoint({})).toBeUndefined();
    expect(
      parseEventsTopicEndpoint({
        [EVENTS_SETTING.topicEndpoint]: "https://t.westus2-1.eventgrid.azure.net/api/events",
      }),
    ).toBe("https://t.westus2-1.eventgrid.azure.net/api/events");
    for (const raw of ["http://t.example/api/events", "not a url", "https://user:pw@t.example/api/events"]) {
      expect(() => parseEventsTopicEndpoint({ [EVENTS_SETTING.topicEndpoint]: raw })).toThrow(SettingsError);
      expect(() => parseEventsTopicEndpoint({ [EVENTS_SETTING.topicEndpoint]: raw })).toThrow(
        /EVENTS_TOPIC_ENDPOINT/,
      );
    }
  });
});
