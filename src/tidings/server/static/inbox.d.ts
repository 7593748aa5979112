// TypeScript declarations for the tidings embeddable inbox (served at /inbox.d.ts beside
// /inbox.js). The script defines the <tidings-inbox> element and window.TidingsInbox.

export type InboxTab = "unread" | "all" | "archived";

export interface InboxItem {
  id: string;
  type: string;
  title: string | null;
  body: string | null;
  data: Record<string, unknown>;
  tags: string[];
  created_at: string;
  seen_at: string | null;
  read_at: string | null;
  archived_at: string | null;
  snoozed_until: string | null;
}

export interface InboxCounts {
  /** Neither read, archived nor snoozed. */
  unread: number;
  /** Not yet shown in an open panel: what the badge shows. */
  unseen: number;
  archived: number;
}

export interface InboxState {
  unread: number;
  unseen: number;
  counts: InboxCounts;
  items: InboxItem[];
}

export interface MountOptions {
  /** Where the tidings API is served, e.g. "https://api.example.com" ("" = this origin). */
  baseUrl?: string;
  /** An inbox token from your backend: app.inbox_token(user_id). */
  token: string;
  /** Called for a fresh token before the current one expires. */
  getToken?: () => string | Promise<string>;
  /** "vi" or "en" (default: the page's language). */
  locale?: "vi" | "en" | string;
  /** Show the panel at once (default true for mount, false for the element). */
  open?: boolean;
  /** The tab shown first (default "unread"). */
  tab?: InboxTab;
  /** Called whenever the counts or the items change. */
  onChange?: (state: InboxState) => void;
}

export interface InboxWidget {
  readonly counts: InboxCounts;
  readonly items: InboxItem[];
  select(tab: InboxTab): Promise<void>;
  setOpen(open: boolean): void;
  markRead(id: string): Promise<void>;
  markAllRead(): Promise<void>;
  markSeen(): Promise<void>;
  snooze(id: string, until: string): Promise<void>;
  setToken(token: string): void;
  close(): void;
}

export interface TidingsInboxElement extends HTMLElement {
  /** Attributes: base-url, token, locale, open, tab. */
  getToken?: () => string | Promise<string>;
  readonly inbox: InboxWidget | null;
  addEventListener(
    type: "tidings-change",
    listener: (event: CustomEvent<InboxState>) => void,
    options?: boolean | AddEventListenerOptions
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions
  ): void;
}

export interface TidingsInboxApi {
  mount(root: HTMLElement, options: MountOptions): InboxWidget;
  strings: Record<string, Record<string, unknown>>;
}

declare global {
  interface Window {
    TidingsInbox: TidingsInboxApi;
  }
  interface HTMLElementTagNameMap {
    "tidings-inbox": TidingsInboxElement;
  }
}
