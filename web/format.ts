// How the page puts types, sizes and waits into words: "PNG, JPEG or GIF", "1.5 KB", "3 min".

const TYPE_NAMES: Record<string, string> = { "image/webp": "WebP" };

/** "image/png" → "PNG", "image/webp" → "WebP". */
export function describeType(type: string): string {
  const known = TYPE_NAMES[type.toLowerCase()];
  if (known) return known;
  const subtype = type.split("/")[1] ?? type;
  return subtype.replace(/^x-/, "").toUpperCase();
}

/** ["image/png", "image/jpeg", "image/gif"] → "PNG, JPEG or GIF". */
export function listTypes(types: readonly string[]): string {
  const names = types.map(describeType);
  return names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

/** Sizes as people read them: 1,024-based, one decimal. */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toLocaleString("en", { maximumFractionDigits: digits })} ${units[unit]}`;
}

/** Seconds as a person reads them: "12 s", "3 min", "5 h 20 min". */
export function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
