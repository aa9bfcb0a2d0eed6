// Hostile images the check's tests build byte by byte, shared by the unit and the integration tests.

/**
 * A GIF whose logical screen is `screen` and whose one image is `frame` (left, top, width, height): the frame
 * bomb browsers size their canvas for, whatever the screen says. 29 bytes.
 */
export function gifWithFrame(screen: [number, number], frame: [number, number, number, number]): Buffer {
  const header = Buffer.alloc(13);
  header.write("GIF89a", 0, "latin1");
  header.writeUInt16LE(screen[0], 6);
  header.writeUInt16LE(screen[1], 8);
  const descriptor = Buffer.alloc(10);
  descriptor[0] = 0x2c;
  for (const [index, value] of frame.entries()) descriptor.writeUInt16LE(value, 1 + 2 * index);
  // LZW minimum code size, one sub-block of image data, its terminator, then the trailer.
  return Buffer.concat([header, descriptor, Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00, 0x3b])]);
}
