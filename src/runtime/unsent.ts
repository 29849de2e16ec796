/**
 * undici drops a request it was about to write on a keep-alive socket whose idle timer had just
 * expired (the event loop was busy past it). The request never left: safe to send again, any method.
 */
export function wasNeverSent(err: unknown): boolean {
  return (err as { code?: string })?.code === 'UND_ERR_INFO' && /socket idle timeout/.test(String(err));
}
