// The client's name and version, sent as `openpanel-sdk-name` and `openpanel-sdk-version` (the one place;
// a test holds it equal to package.json's).

export const SDK_NAME = "spool-offline";
export const VERSION = "0.1.0";
