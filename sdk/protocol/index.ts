/**
 * The hostd wire protocol: the single definition shared by hostd and every
 * client. See `docs/architecture.md` for how a call travels.
 */
export * from "./common";
export * from "./method";
export * from "./host";
export * from "./vm";
export * from "./disk";
export * from "./network";
export * from "./events";
export * from "./migration";

import { hostHello } from "./host";
import { hostEvents } from "./events";
import { AnyMethod } from "./method";
import { vmConsole, vmCreate, vmDelete, vmGet, vmList, vmSerialLog, vmStart, vmStop, vmUpdate } from "./vm";
import { diskCreate, diskDelete, diskGet, diskList, diskUpdate, imageList, imagePrune } from "./disk";
import { networkCreate, networkDelete, networkGet, networkList, networkUpdate } from "./network";
import { MIGRATION_METHODS } from "./migration";

/** Every method hostd serves, by wire name. */
export const Methods: ReadonlyMap<string, AnyMethod> = new Map(
  [
    hostHello,
    hostEvents,
    vmSerialLog,
    vmConsole,
    vmCreate,
    vmGet,
    vmList,
    vmUpdate,
    vmStart,
    vmStop,
    vmDelete,
    diskCreate,
    diskGet,
    diskList,
    diskUpdate,
    diskDelete,
    imageList,
    imagePrune,
    networkCreate,
    networkGet,
    networkList,
    networkUpdate,
    networkDelete,
    ...MIGRATION_METHODS,
  ].map((m) => [m.name, m]),
);
export * from "./fields";
