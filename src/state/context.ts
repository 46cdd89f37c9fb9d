import { createContext } from 'svelte';
import type { AppState } from './app.svelte.ts';
import type { ChatSession } from './session.svelte.ts';

/** The page state, set by App.svelte. */
export const [getApp, setApp] = createContext<AppState>();

/** The chat session, set by RoomView.svelte for everything inside a room. */
export const [getSession, setSession] = createContext<ChatSession>();
