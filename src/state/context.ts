import { createContext } from 'svelte';
import type { AppState } from './app.svelte.ts';
import type { Conversation } from './conversation.svelte.ts';
import type { ChatSession } from './session.svelte.ts';

/** The page state, set by App.svelte. */
export const [getApp, setApp] = createContext<AppState>();

/** The chat session, set by ChatScreen.svelte for everything after joining. */
export const [getSession, setSession] = createContext<ChatSession>();

/** The conversation shown, set by ConversationView.svelte for its list and composer. */
export const [getConversation, setConversation] = createContext<Conversation>();
