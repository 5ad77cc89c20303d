import type { MeResponse, UiChatSummary, UiModel } from './api';

/** What every signed-in page shares: the user, their chats and their models. */
export interface Workspace {
  me: MeResponse;
  chats: UiChatSummary[];
  models: UiModel[] | undefined;
  search: string;
  setSearch(q: string): void;
  refreshChats(): Promise<void>;
  refreshMe(): Promise<void>;
  signOut(): void;
}
