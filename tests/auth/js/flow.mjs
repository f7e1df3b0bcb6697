// supabase-js against a running sensay-hub, as a front end would use it. Prints one JSON object on stdout.
//   node flow.mjs journey <url> <anon key> <email>    sign up, sign in, user, update, refresh, reuse detection
//   node flow.mjs signout <url> <anon key> <access> <refresh>
import { createClient } from '@supabase/supabase-js'
import ws from 'ws'

const [command, url, key, ...rest] = process.argv.slice(2)
const options = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  realtime: { transport: ws }, // Node 20 has no global WebSocket; a browser needs nothing here
}
const client = () => createClient(url, key, options)
const err = (error) => (error ? { name: error.name, code: error.code ?? null, status: error.status ?? null } : null)

async function journey(email) {
  const password = 'correct horse battery'
  const out = {}
  const supabase = client()

  const up = await supabase.auth.signUp({ email, password, options: { data: { name: 'Ada' } } })
  out.signUp = { error: err(up.error), email: up.data.user?.email, metadata: up.data.user?.user_metadata,
                 hasSession: !!up.data.session }
  const again = await client().auth.signUp({ email, password })
  out.signUpAgain = err(again.error)
  const weak = await client().auth.signUp({ email: `weak-${email}`, password: 'short' })
  out.weak = { ...err(weak.error), reasons: weak.error?.reasons ?? null }

  const bad = await client().auth.signInWithPassword({ email, password: 'wrong password!' })
  out.badLogin = err(bad.error)
  const signIn = await supabase.auth.signInWithPassword({ email, password })
  const session = signIn.data.session
  out.signIn = { error: err(signIn.error), expiresAt: session?.expires_at, tokenType: session?.token_type,
                 userId: signIn.data.user?.id }

  const user = await supabase.auth.getUser()
  out.getUser = { error: err(user.error), id: user.data.user?.id, email: user.data.user?.email }
  const updated = await supabase.auth.updateUser({ data: { name: null, lang: 'en' } })
  out.updateUser = { error: err(updated.error), metadata: updated.data.user?.user_metadata }
  const samePassword = await supabase.auth.updateUser({ password })
  out.samePassword = err(samePassword.error)

  const first = session.refresh_token
  const refreshed = await supabase.auth.refreshSession()
  out.refresh = { error: err(refreshed.error), rotated: refreshed.data.session?.refresh_token !== first }
  const third = await supabase.auth.refreshSession()
  out.reuse = err((await client().auth.refreshSession({ refresh_token: first })).error)
  out.afterReuse = err((await client().auth.refreshSession({ refresh_token: third.data.session.refresh_token })).error)
  out.afterReuseUser = err((await client().auth.getUser(third.data.session.access_token)).error)

  const fresh = await supabase.auth.signInWithPassword({ email, password })
  out.session = { access_token: fresh.data.session.access_token, refresh_token: fresh.data.session.refresh_token }
  const claims = await supabase.auth.getClaims()
  out.claims = { error: err(claims.error), sub: claims.data?.claims?.sub, role: claims.data?.claims?.role }
  const settings = await fetch(`${url}/auth/v1/settings`, { headers: { apikey: key } })
  out.settings = { status: settings.status, email: (await settings.json()).external?.email }
  out.wrongKey = err((await createClient(url, 'nope', options).auth.signInWithPassword({ email, password })).error)
  return out
}

async function signout(access, refresh) {
  const supabase = client()
  const set = await supabase.auth.setSession({ access_token: access, refresh_token: refresh })
  const out = { setSession: err(set.error) }
  out.signOut = err((await supabase.auth.signOut()).error)
  out.afterSignOut = err((await client().auth.getUser(access)).error)
  return out
}

const result = command === 'journey' ? await journey(...rest) : await signout(...rest)
process.stdout.write(JSON.stringify(result) + '\n')
