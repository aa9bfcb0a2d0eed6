// Whether this instance's check waits for malware scan results (MALWARE_SCANNING), read once per settings
// environment like the rest of the settings.
import { parseMalwareScanning } from "../contract/malwareScanning";
import { keptPerSettingsSource } from "../platform/settings";

export const loadMalwareScanning: () => boolean = keptPerSettingsSource(parseMalwareScanning);
