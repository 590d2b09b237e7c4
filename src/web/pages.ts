/**
 * The two HTML documents the console serves, both constant: the app's
 * shell (the page script fills it from the API) and the login page. No
 * machine data is ever put into HTML on the server, so there is nothing
 * to escape here and nothing for the login page to leak.
 * @module
 */

const HEAD = `<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">`

export const APP_PAGE = `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>Machines · machined-web</title>
<link rel="stylesheet" href="/assets/style.css">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<div id="app" aria-live="polite"></div>
</body>
</html>
`

export function loginPage(message: string): string {
  // `message` is one of this module's own constants, never request data.
  return `<!doctype html>
<html lang="en">
<head>
${HEAD}
<title>Log in · machined-web</title>
<link rel="stylesheet" href="/assets/login.css">
</head>
<body>
<main class="login">
<h1>machined-web</h1>
<p>${message}</p>
<p>The token is in <code>/run/machined-web/token</code> (readable by root only); <code>machined-web</code> printed the address to open when it started.</p>
<form method="get" action="/login">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Log in</button>
</form>
</main>
</body>
</html>
`
}

export const LOGIN_MESSAGES = {
  required: 'Log in to see this host\'s machines.',
  wrong: 'That token is not the current one.',
  expired: 'Your session has ended: log in again.',
} as const
