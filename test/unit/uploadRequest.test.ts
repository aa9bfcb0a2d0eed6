// The request checks (function/issuing/uploadRequest.ts): accepted queries, a table of hostile ones each refused
// with a clear message, and the caller's address as the front end reports it.
import { describe, expect, test } from "vitest";
import { parseIssuanceLimits } from "../../function/contract/issuanceLimits";
import { clientIpv4, clientKey, parseTokenRequest, RequestError } from "../../function/issuing/uploadRequest";

const limits = parseIssuanceLimits({});
const parse = (query: string, p = limits) => parseTokenRequest(new URLSearchParams(query), p);

function requestError(query: string, p = limits): string {
  try {
    parse(query, p);
  } catch (error) {
    expect(error).toBeInstanceOf(RequestError);
    return (error as Error).message;
  }
  throw new Error(`expected ${query} to be refused`);
}

describe("accepted requests", () => {
  test("no parameters asks for a container token", () => {
    expect(parse("")).toEqual({ kind: "container" });
  });

  test.each([
    ["filename=cat.png&contentType=image/png&size=10", "image/png", "png", 10],
    ["filename=Cat.JPEG&contentType=image/jpeg&size=2048", "image/jpeg", "jpg", 2048],
    ["filename=cat.jpg&contentType=IMAGE/JPEG&size=1024", "image/jpeg", "jpg", 1024],
    ["filename=a%20b%C3%A9.webp&contentType=image/webp&size=52428800", "image/webp", "webp", 52428800],
    ["contentType=image/avif&size=5&filename=x.y.avif", "image/avif", "avif", 5],
    ["filename=anim.gif&contentType=image/gif&size=1", "image/gif", "gif", 1],
  ])("%s is an upload of %s with extension %s", (query, contentType, extension, size) => {
    expect(parse(query)).toEqual({ kind: "upload", contentType, extension, size });
  });
});

describe("refused requests", () => {
  const long = "a".repeat(300);
  test.each([
    ["filename=cat.png", /needs filename, contentType and size/],
    ["contentType=image/png", /needs filename, contentType and size/],
    ["size=10", /needs filename, contentType and size/],
    ["filename=cat.png&contentType=image/png", /needs filename, contentType and size/],
    ["filename=cat.png&contentType=text/html", /contentType "text\/html" is not allowed/],
    ["filename=cat.svg&contentType=image/svg%2Bxml", /is not allowed/],
    ["filename=cat.heic&contentType=image/heic", /is not allowed/],
    ["filename=cat.png&contentType=", /contentType must be a MIME type/],
    [`filename=cat.png&contentType=image/${long}`, /contentType must be a MIME type of at most 100/],
    ["filename=cat.png&contentType=image/png%0D%0AX-Evil:%201", /contentType must be a MIME type/],
    [
      "filename=cat.jpg&contentType=image/png",
      /filename must end in \.png for contentType image\/png, not "\.jpg"/,
    ],
    ["filename=cat&contentType=image/png", /filename must end in \.png/],
    ["filename=.png&contentType=image/png", /filename must end in \.png/],
    ["filename=cat.png.exe&contentType=image/png", /filename must end in \.png/],
    ["filename=&contentType=image/png", /filename must be 1 to 255 characters/],
    [`filename=${long}.png&contentType=image/png`, /filename must be 1 to 255 characters/],
    ["filename=../../etc/passwd.png&contentType=image/png", /without path separators/],
    ["filename=dir%2Fcat.png&contentType=image/png", /without path separators/],
    ["filename=dir%5Ccat.png&contentType=image/png", /without path separators/],
    ["filename=cat%00.png&contentType=image/png", /control characters/],
    ["filename=cat%0A.png&contentType=image/png", /control characters/],
    ["filename=cat%E2%80%A8.png&contentType=image/png", /control characters/],
    ["filename=cat.png&contentType=image/png&size=0", /size must be the file's size in bytes/],
    ["filename=cat.png&contentType=image/png&size=-1", /size must be/],
    ["filename=cat.png&contentType=image/png&size=1.5", /size must be/],
    ["filename=cat.png&contentType=image/png&size=1e6", /size must be/],
    ["filename=cat.png&contentType=image/png&size=", /size must be/],
    ["filename=cat.png&contentType=image/png&size=99999999999999999999", /size must be/],
    ["filename=cat.png&contentType=image/png&size=52428801", /too large: the limit is 52428800 bytes/],
    ["filename=a.png&filename=b.png&contentType=image/png", /filename is given more than once/],
    ["filename=a.png&contentType=image/png&contentType=image/png", /contentType is given more than once/],
    ["filename=a.png&contentType=image/png&blob=../x", /Unknown query parameter "blob"/],
    ["filename=a.png&contentType=image/png&size=1&blobName=../x", /blobName must be the name/],
    ["sp=rwdl", /Unknown query parameter "sp"/],
    [`${"x".repeat(500)}=1`, /Unknown query parameter "x{40}…"/],
    ["a%0D%0Ab=1", /Unknown query parameter "a\\r\\nb"/],
  ])("%s is refused", (query, message) => {
    expect(requestError(query)).toMatch(message);
  });

  test("no parameters is refused when container tokens are turned off", () => {
    const strict = parseIssuanceLimits({ CONTAINER_TOKENS_ENABLED: "false" });
    expect(requestError("", strict)).toMatch(/Container tokens are turned off: ask for a token per upload/);
    expect(parse("filename=a.png&contentType=image/png&size=1", strict)).toMatchObject({ kind: "upload" });
  });

  test("no error message carries a raw control character or an unescaped quote from the input", () => {
    for (const query of [
      "a%0D%0Ab=1",
      "filename=cat%0A.png&contentType=image/png",
      'filename=a.png&contentType=x"y%0D',
    ]) {
      const message = requestError(query);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: checking for control characters.
      expect(message).not.toMatch(/[\u0000-\u001f]/);
    }
  });
});

describe("the caller's address", () => {
  test.each([
    ["203.0.113.7", "203.0.113.7"],
    ["203.0.113.7:51234", "203.0.113.7"],
    ["198.51.100.1, 203.0.113.7:51234", "203.0.113.7"],
    ["203.0.113.7, not-an-ip", undefined],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["2001:db8::1", undefined],
    ["not-an-ip", undefined],
    ["", undefined],
    [null, undefined],
  ])("X-Forwarded-For %j gives %j", (header, ip) => {
    expect(clientIpv4(header)).toBe(ip);
  });
});

describe("the key the issuance limits count a caller under", () => {
  test.each([
    ["203.0.113.7:51234", "ipv4-203.0.113.7"],
    ["198.51.100.1, 203.0.113.7", "ipv4-203.0.113.7"],
    ["::ffff:127.0.0.1", "ipv4-127.0.0.1"],
    ["2001:db8:a:b:1:2:3:4", "ipv6-2001:0db8:000a:000b"],
    ["[2001:DB8:a:b::9]:443", "ipv6-2001:0db8:000a:000b"],
    ["2001:db8::1", "ipv6-2001:0db8:0000:0000"],
    ["::1", "ipv6-0000:0000:0000:0000"],
    ["64:ff9b::192.0.2.33", "ipv6-0064:ff9b:0000:0000"],
    ["not-an-ip", "unknown"],
    [null, "unknown"],
  ])("X-Forwarded-For %j counts under %j", (header, key) => {
    expect(clientKey(header)).toBe(key);
  });

  test("two addresses in one IPv6 /64 share a key, and the next /64 does not", () => {
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe(clientKey("2001:db8:1:2:bbbb::2"));
    expect(clientKey("2001:db8:1:3::1")).not.toBe(clientKey("2001:db8:1:2::1"));
  });

  test("the key never holds a character a table key refuses", () => {
    for (const header of ["[2001:db8::1]:1", "203.0.113.7:1", "::ffff:10.0.0.1"]) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are among those refused.
      expect(clientKey(header)).not.toMatch(/[/\\#?\u0000-\u001f]/);
    }
  });
});
