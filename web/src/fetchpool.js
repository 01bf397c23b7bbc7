// A page's data reads through one small pool, and every read of the page cancelled as it is left.
//
// Why: over HTTP/1.1 a browser opens at most six connections to one host, and a navigation
// waits for a free one. A workspace that loads a dozen panels (plus its long poll) filled all
// six, so a click on a run's Charts tab sat queued for seconds behind reads whose answers
// nobody would see. So reads take at most `limit` connections at once, and `leaving()` aborts
// them (and the long poll) when the page is left, before the next page's request is sent.

/** An error like the one `fetch` rejects with when its signal aborts. */
function abortError() {
  return new DOMException("The page is being left", "AbortError");
}

/** Whether `error` is an abort (this pool's or fetch's own), not a failed read. */
export function isAbort(error) {
  return Boolean(error) && error.name === "AbortError";
}

/**
 * A pool of at most `limit` reads in flight; more wait in order. `getJson(url)` resolves to
 * the parsed body, or null when the server refused (not 2xx); it rejects with an AbortError
 * when `abortAll()` cancels it. A connection is given back once the body has been read.
 */
export function createFetchPool(limit, fetchImpl = (url, init) => fetch(url, init)) {
  let active = 0;
  const waiting = [];
  const controllers = new Set();

  async function run(url, controller) {
    const resp = await fetchImpl(url, { credentials: "same-origin", signal: controller.signal });
    if (!resp.ok) {
      await resp.text(); // drain, so the connection can be reused
      return null;
    }
    return resp.json();
  }

  function next() {
    while (active < limit && waiting.length) {
      const job = waiting.shift();
      const controller = new AbortController();
      controllers.add(controller);
      active += 1;
      run(job.url, controller).then(job.resolve, job.reject).finally(() => {
        controllers.delete(controller);
        active -= 1;
        next();
      });
    }
  }

  return {
    getJson(url) {
      return new Promise((resolve, reject) => {
        waiting.push({ url, resolve, reject });
        next();
      });
    },
    /** Cancel every read, in flight or waiting; the pool takes new reads afterwards. */
    abortAll() {
      for (const job of waiting.splice(0)) job.reject(abortError());
      for (const controller of controllers) controller.abort();
    },
    get inFlight() { return active; },
    get queued() { return waiting.length; },
  };
}

/**
 * Call `callback` when the page starts to be left. `beforeunload` fires before the browser
 * sends the next page's request (for links, forms and the address bar alike); `pagehide`
 * covers a page put into the back/forward cache. A left page runs no more timers, so work
 * that a callback cancels may be retried after a pause: it only runs if the page stayed
 * (a link that turned out to be a download).
 */
export function onLeave(callback, target = window) {
  target.addEventListener("beforeunload", callback);
  target.addEventListener("pagehide", callback);
}
