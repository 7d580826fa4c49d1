'use server';

import { cookies, headers } from 'next/headers';
import { redirect } from 'next/navigation';

import { apiToken, safeNext, sameSecret, SESSION_COOKIE, SESSION_MAX_AGE_SECONDS, sessionValue } from '@/lib/auth';

export interface SignInState {
  error: string | null;
}

async function isHttps(): Promise<boolean> {
  const h = await headers();
  return (h.get('x-forwarded-proto') ?? '').split(',')[0]?.trim() === 'https';
}

/** Checks the token once and keeps a session cookie (httpOnly, SameSite=Strict) derived from it. */
export async function signIn(_prev: SignInState, form: FormData): Promise<SignInState> {
  const token = apiToken();
  const next = safeNext(form.get('next'));
  if (token === null) redirect(next);
  const given = form.get('token');
  if (typeof given !== 'string' || given.trim() === '') return { error: 'Enter the API token.' };
  if (!sameSecret(given.trim(), token)) return { error: 'That is not the API token (MCP_JOBS_API_TOKEN).' };
  const jar = await cookies();
  jar.set(SESSION_COOKIE, sessionValue(token), {
    httpOnly: true,
    sameSite: 'strict',
    secure: await isHttps(),
    path: '/',
    maxAge: SESSION_MAX_AGE_SECONDS,
  });
  redirect(next);
}

export async function signOut(): Promise<void> {
  const jar = await cookies();
  jar.delete(SESSION_COOKIE);
  redirect('/login');
}
