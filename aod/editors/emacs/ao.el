;;; ao.el --- The aod fleet of coding agents -*- lexical-binding: t -*-

;; Copyright (C) 2026 The aod authors

;; Author: The aod authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1"))
;; Keywords: tools, processes
;; URL: https://github.com/aod/aod
;; SPDX-License-Identifier: MIT

;; This file is not part of GNU Emacs.

;;; Commentary:

;; Talks to aod, the daemon that runs AI coding agents, over its Unix socket
;; (newline-delimited JSON-RPC 2.0, the protocol of docs/protocol.md), with
;; nothing but what Emacs has built in: `make-network-process' with
;; `:family' `local', `json-parse-string' / `json-serialize',
;; `tabulated-list-mode' and, where D-Bus offers it, `notifications-notify'.
;;
;; M-x ao-sessions   a live list of the sessions (id, host, state, activity,
;;                   PR, age).  RET opens the session's worktree, s sends it a
;;                   message (C-c C-c in the message buffer), k kills it,
;;                   r shows its PR's readiness, h its history, g refreshes.
;; M-x ao-mode       a global minor mode: the mode-line shows how many
;;                   sessions need a human, and you are told (a desktop
;;                   notification, else the echo area) when one starts to:
;;                   it needs input, its CI failed past the agent's retries,
;;                   or its merge failed.
;;
;; Every command also works from Lisp (`ao-send', `ao-kill',
;; `ao-sessions-refresh', `ao-pr-show', `ao-history', `ao-open-worktree').
;;
;; The socket is found as aoctl finds it: $AOD_SOCKET, else
;; $XDG_RUNTIME_DIR/ao/aod.sock, else ao-UID/aod.sock in the temporary
;; directory.  Before anything is sent, its directory must belong to you
;; and be writable by no one else, and the socket must belong to you.

;;; Code:

(require 'subr-x)
(require 'tabulated-list)
(require 'parse-time)
(require 'seq)

(declare-function notifications-notify "notifications" (&rest params))
(declare-function dbus-ping "dbus" (bus service &optional timeout))

(defgroup ao nil
  "The aod fleet of coding agents."
  :group 'tools
  :prefix "ao-")

(defcustom ao-socket nil
  "The socket of aod, or nil to find it as aoctl does."
  :type '(choice (const :tag "As aoctl finds it" nil) file))

(defcustom ao-request-timeout 30
  "Seconds a command waits for aod's answer."
  :type 'number)

(defcustom ao-reconnect-max-delay 30
  "The longest pause, in seconds, between two attempts to reconnect."
  :type 'number)

(defcustom ao-use-desktop-notifications t
  "Non-nil: tell through `notifications-notify' when D-Bus offers it."
  :type 'boolean)

(defcustom ao-notify-functions nil
  "Functions called with (SESSION-ID TITLE BODY) for each notification."
  :type 'hook)

(define-error 'ao-error "aod")

;;;; Connection

(defvar ao--process nil "The connection to aod, or nil.")
(defvar ao--input (unibyte-string) "Bytes received and not yet a whole line.")
(defvar ao--pending (make-hash-table :test #'eql)
  "Request id -> callback (RESULT ERROR) of each request in flight.")
(defvar ao--next-id 0 "The id of the last request sent.")
(defvar ao--subscription nil "The `events.subscribe' subscription, or nil.")
(defvar ao--reconnect-timer nil)
(defvar ao--reconnect-delay 1)
(defvar ao--last-problem nil "Why the last attempt to reach aod failed, or nil.")
(defvar ao-event-hook nil
  "Functions called with each event from aod.
An event is an alist: seq, time, kind, session, data.")

(defun ao-socket-path ()
  "The socket aod listens on, found as aoctl finds it."
  (let ((explicit (getenv "AOD_SOCKET"))
        (runtime (getenv "XDG_RUNTIME_DIR")))
    (cond (ao-socket (expand-file-name ao-socket))
          ((and explicit (not (string-empty-p explicit)))
           (expand-file-name explicit))
          ((and runtime (file-name-absolute-p runtime))
           (expand-file-name "ao/aod.sock" runtime))
          (t (expand-file-name
              (format "ao-%d/aod.sock" (user-uid))
              (or (getenv "TMPDIR") (getenv "TEMP") (getenv "TMP") "/tmp"))))))

(defun ao--owner-problem (file what)
  "Why FILE (WHAT it is, in words) cannot be trusted, or nil."
  (let ((attrs (file-attributes (file-truename file) 'integer))
        (uid (user-uid)))
    (cond ((null attrs) nil)            ; missing: connecting says so
          ((/= (file-attribute-user-id attrs) uid)
           (format "%s %s belongs to uid %d, not to you (uid %d)"
                   what file (file-attribute-user-id attrs) uid))
          ((let ((modes (file-attribute-modes attrs)))
             (and (string-prefix-p "d" modes)
                  (or (eq (aref modes 5) ?w) (eq (aref modes 8) ?w))))
           (format "%s %s is writable by others (%s)"
                   what file (file-attribute-modes attrs))))))

(defun ao-socket-problem (path)
  "Why the socket at PATH may not be aod's own, or nil.
Its directory must be yours and writable by no one else, and the socket yours."
  (or (ao--owner-problem (directory-file-name (file-name-directory path))
                         "the directory")
      (ao--owner-problem path "the socket")))

(defun ao-connected-p ()
  "Non-nil when a connection to aod is open."
  (and ao--process (process-live-p ao--process)))

(defun ao--connect ()
  "Connect to aod and subscribe to its events; signal `ao-error' if not."
  (let* ((path (ao-socket-path))
         (problem (ao-socket-problem path)))
    (when problem
      (signal 'ao-error
              (list (format "not talking to %s: %s.  It may not be your aod: another user could have made it to read what you send.  Remove it if it is yours, or set AOD_SOCKET (or `ao-socket') to a socket in a directory only you can write"
                            path problem))))
    (let ((process
           (condition-case err
               (make-network-process
                :name "aod" :buffer nil :family 'local :service path
                :coding 'binary :noquery t
                :filter #'ao--filter :sentinel #'ao--sentinel)
             (file-error
              (signal 'ao-error
                      (list (format "aod is not running (no answer at %s: %s).  Start it with `aoctl daemon start' (or `aod' in a terminal)"
                                    path (error-message-string err))))))))
      (setq ao--process process
            ao--input (unibyte-string)
            ao--subscription nil
            ao--reconnect-delay 1
            ao--last-problem nil)
      (ao--call "events.subscribe" nil
                (lambda (result _error)
                  (when result
                    (setq ao--subscription (alist-get 'subscription result)))))
      (ao--refresh-async)
      process)))

(defun ao--ensure-connection ()
  "The open connection to aod, opening it when needed."
  (if (ao-connected-p) ao--process (ao--connect)))

(defun ao-disconnect ()
  "Close the connection to aod (and stop reconnecting)."
  (interactive)
  (when (timerp ao--reconnect-timer) (cancel-timer ao--reconnect-timer))
  (setq ao--reconnect-timer nil)
  (when ao--process
    (let ((process ao--process))
      (setq ao--process nil)
      (delete-process process)))
  (ao--fail-pending "disconnected"))

(defun ao--fail-pending (why)
  "Answer every request in flight with an error saying WHY."
  (let ((callbacks nil))
    (maphash (lambda (_id cb) (push cb callbacks)) ao--pending)
    (clrhash ao--pending)
    (dolist (cb callbacks)
      (funcall cb nil `((code . -1) (message . ,why))))))

(defun ao--wanted-p ()
  "Non-nil when something shows aod's state and wants the connection back."
  (or (bound-and-true-p ao-mode) (get-buffer "*ao sessions*")))

(defun ao--sentinel (process event)
  "Notice that PROCESS (the connection) has ended with EVENT."
  (unless (process-live-p process)
    (when (eq process ao--process)
      (setq ao--process nil ao--subscription nil
            ao--last-problem (format "connection to aod lost (%s)" (string-trim event)))
      (ao--fail-pending ao--last-problem)
      (ao--update-views)
      (when (ao--wanted-p) (ao--schedule-reconnect)))))

(defun ao--schedule-reconnect ()
  "Try to reconnect later, backing off up to `ao-reconnect-max-delay'."
  (unless (timerp ao--reconnect-timer)
    (setq ao--reconnect-timer
          (run-at-time ao--reconnect-delay nil #'ao--reconnect))
    (setq ao--reconnect-delay (min ao-reconnect-max-delay (* 2 ao--reconnect-delay)))))

(defun ao--reconnect ()
  "One attempt to reconnect; another is scheduled if it fails."
  (setq ao--reconnect-timer nil)
  (unless (ao-connected-p)
    (condition-case err
        (ao--connect)
      (ao-error
       (setq ao--last-problem (error-message-string err))
       (ao--update-views)
       (when (ao--wanted-p) (ao--schedule-reconnect))))))

(defun ao--filter (_process bytes)
  "Split BYTES from aod into lines and handle each as a JSON-RPC message."
  (setq ao--input (concat ao--input bytes))
  (let ((start 0) end)
    (while (setq end (string-match "\n" ao--input start))
      (let ((line (string-trim-right (substring ao--input start end) "\r")))
        (setq start (1+ end))
        (unless (string-empty-p line)
          (ao--handle-line line))))
    (setq ao--input (substring ao--input start))))

(defun ao--handle-line (line)
  "Handle LINE, one message from aod (UTF-8 bytes)."
  (let ((message (condition-case nil
                     (json-parse-string (decode-coding-string line 'utf-8)
                                        :object-type 'alist :array-type 'list
                                        :null-object nil :false-object nil)
                   (error nil))))
    (cond
     ((null message) nil)
     ((assq 'method message)
      (ao--handle-notification (alist-get 'method message) (alist-get 'params message)))
     (t
      (let* ((id (alist-get 'id message))
             (callback (and id (gethash id ao--pending))))
        (when callback
          (remhash id ao--pending)
          (condition-case err
              (funcall callback (alist-get 'result message) (alist-get 'error message))
            (error (message "ao: %s" (error-message-string err))))))))))

(defun ao--handle-notification (method params)
  "Handle the notification METHOD with PARAMS."
  (cond
   ((equal method "event")
    (run-hook-with-args 'ao-event-hook params)
    (let ((kind (or (alist-get 'kind params) "")))
      (when (or (alist-get 'session params)
                (string-match-p "\\`\\(session\\|human\\|group\\|intake\\|project\\)\\." kind))
        (ao--refresh-async))))
   ((equal method "events.dropped")
    ;; Fell behind: the subscription ended; subscribe again and re-read.
    (setq ao--subscription nil)
    (ao--call "events.subscribe" nil
              (lambda (result _error)
                (when result (setq ao--subscription (alist-get 'subscription result)))))
    (ao--refresh-async))))

(defun ao--call (method params callback)
  "Send METHOD with PARAMS (an alist, or nil); CALLBACK gets (RESULT ERROR)."
  (let* ((process (ao--ensure-connection))
         (id (setq ao--next-id (1+ ao--next-id)))
         (request `((jsonrpc . "2.0") (id . ,id) (method . ,method)
                    ,@(and params `((params . ,params))))))
    (puthash id callback ao--pending)
    (condition-case err
        (process-send-string
         process (concat (encode-coding-string (json-serialize request) 'utf-8) "\n"))
      (error
       (remhash id ao--pending)
       (signal 'ao-error (list (format "connection to aod lost while sending: %s"
                                       (error-message-string err))))))
    id))

(defun ao-call (method &optional params timeout)
  "Call METHOD with PARAMS (an alist) and wait for aod's result.
Signals `ao-error' with aod's message when it refuses, or after TIMEOUT
seconds (default `ao-request-timeout')."
  (let* ((done nil) result failure
         (deadline (+ (float-time) (or timeout ao-request-timeout)))
         (id (ao--call method params
                       (lambda (r e) (setq done t result r failure e)))))
    (while (and (not done) (< (float-time) deadline))
      (accept-process-output ao--process 0.05))
    (unless done
      (remhash id ao--pending)
      (signal 'ao-error (list (format "aod did not answer %s within %s s; is it busy or stuck? `aoctl daemon status' says"
                                      method (or timeout ao-request-timeout)))))
    (when failure
      (signal 'ao-error (list (format "%s: %s" method (alist-get 'message failure))
                              (alist-get 'code failure))))
    result))

;;;; State

(defvar ao--sessions nil "The sessions as aod last listed them (alists), oldest first.")
(defvar ao--listed nil "Non-nil once aod has listed the sessions at least once.")
(defvar ao--refresh-in-flight nil)
(defvar ao--refresh-again nil)
(defvar ao--told (make-hash-table :test #'equal)
  "Session id -> the state it was last notified for.")
(defvar ao-notifications nil
  "The notifications given so far, newest first: (SESSION-ID TITLE BODY).")

(defun ao--refresh-async ()
  "Ask aod for the sessions; several asks while one is in flight make one more."
  (if ao--refresh-in-flight
      (setq ao--refresh-again t)
    (setq ao--refresh-in-flight t ao--refresh-again nil)
    (condition-case nil
        (ao--call "session.list" '((orchestrators . t))
                  (lambda (result _error)
                    (setq ao--refresh-in-flight nil)
                    (when result (ao--apply-sessions (alist-get 'sessions result)))
                    (when ao--refresh-again (ao--refresh-async))))
      (ao-error (setq ao--refresh-in-flight nil)))))

(defun ao-sessions-refresh ()
  "Read the sessions from aod now, update what shows them, and return them."
  (interactive)
  (ao--apply-sessions (alist-get 'sessions (ao-call "session.list" '((orchestrators . t)))))
  ao--sessions)

(defun ao--needs-human-p (session)
  "Non-nil when SESSION needs a person."
  (equal (alist-get 'lane session) "needs_you"))

(defun ao--notice-for (session)
  "The (TITLE . BODY) to tell about SESSION now, or nil."
  (let ((id (alist-get 'id session))
        (state (alist-get 'state session))
        (reason (or (alist-get 'reason session) "")))
    (when (ao--needs-human-p session)
      (pcase state
        ("needs_input" (cons (format "%s needs input" id) reason))
        ("ci_failed" (cons (format "%s: CI failed, the agent could not fix it" id) reason))
        ("merge_failed" (cons (format "%s: merge failed" id) reason))))))

(defun ao--apply-sessions (sessions)
  "Take SESSIONS as the fleet's state; notify of each new need of a human."
  (let ((first (not ao--listed)))
    (setq ao--sessions sessions ao--listed t)
    (dolist (session sessions)
      (let* ((id (alist-get 'id session))
             (notice (ao--notice-for session))
             (key (and notice (alist-get 'state session))))
        (unless (equal (gethash id ao--told) key)
          (puthash id key ao--told)
          (when (and notice (not first))
            (ao--notify id (car notice) (cdr notice))))))
    (ao--update-views)))

(defun ao--desktop-notifications-p ()
  "Non-nil when desktop notifications can be shown."
  (and ao-use-desktop-notifications
       (featurep 'dbusbind)
       (require 'notifications nil t)
       (ignore-errors (dbus-ping :session "org.freedesktop.Notifications" 200))))

(defun ao--notify (id title body)
  "Tell the user TITLE and BODY about session ID."
  (push (list id title body) ao-notifications)
  (run-hook-with-args 'ao-notify-functions id title body)
  (if (ao--desktop-notifications-p)
      (notifications-notify :title title :body body :app-name "aod")
    (message "aod: %s%s" title (if (string-empty-p body) "" (concat ": " body)))))

(defun ao-needs-human-count ()
  "How many sessions need a person."
  (seq-count #'ao--needs-human-p ao--sessions))

;;;; Mode line

(defun ao-mode-line ()
  "The mode-line lighter: sessions needing a human, or - when aod is away."
  (cond ((not (ao-connected-p)) " ao:-")
        (t (format " ao:%d" (ao-needs-human-count)))))

;;;###autoload
(define-minor-mode ao-mode
  "Show how many aod sessions need you in the mode line.
Also tell (a desktop notification, else a message) when one starts to:
it needs input, its CI failed past the agent's retries, its merge failed."
  :global t
  :group 'ao
  :lighter (:eval (ao-mode-line))
  (if ao-mode
      (condition-case err
          (ao--ensure-connection)
        (ao-error
         (setq ao--last-problem (error-message-string err))
         (message "ao: %s" ao--last-problem)
         (ao--schedule-reconnect)))
    (unless (get-buffer "*ao sessions*") (ao-disconnect)))
  (force-mode-line-update t))

;;;; The sessions buffer

(defun ao--age (created-at)
  "How long ago CREATED-AT (an ISO 8601 time) was, shortly."
  (let ((time (and (stringp created-at)
                   (ignore-errors (parse-iso8601-time-string created-at)))))
    (if (null time)
        ""
      (let ((s (max 0 (floor (float-time (time-subtract nil time))))))
        (cond ((< s 60) (format "%ds" s))
              ((< s 3600) (format "%dm" (/ s 60)))
              ((< s 86400) (format "%dh" (/ s 3600)))
              (t (format "%dd" (/ s 86400))))))))

(defun ao--pr-column (session)
  "The PR column of SESSION."
  (let ((number (alist-get 'pr_number session)))
    (if (null number)
        ""
      (string-join (delq nil (list (format "#%s" number)
                                   (alist-get 'pr_state session)
                                   (let ((c (alist-get 'pr_checks session)))
                                     (and c (concat "ci:" c)))
                                   (let ((r (alist-get 'pr_review session)))
                                     (and r (not (equal r "none")) r))))
                   " "))))

(defun ao--text (value)
  "VALUE as column text."
  (cond ((null value) "")
        ((stringp value) value)
        (t (format "%s" value))))

(defun ao--entries ()
  "The rows of the sessions buffer."
  (mapcar (lambda (s)
            (let ((state (ao--text (alist-get 'state s))))
              (list (alist-get 'id s)
                    (vector (ao--text (alist-get 'id s))
                            (ao--text (alist-get 'host s))
                            (if (ao--needs-human-p s)
                                (propertize state 'face 'warning)
                              state)
                            (ao--text (alist-get 'activity s))
                            (ao--pr-column s)
                            (ao--age (alist-get 'created_at s))))))
          ao--sessions))

(defvar ao-sessions-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'ao-open-worktree)
    (define-key map "s" #'ao-send-compose)
    (define-key map "k" #'ao-kill)
    (define-key map "r" #'ao-pr-show)
    (define-key map "h" #'ao-history)
    (define-key map "g" #'ao-sessions-refresh)
    map)
  "Keys of `ao-sessions-mode'.")

(define-derived-mode ao-sessions-mode tabulated-list-mode "aod"
  "The sessions of aod, live.
\\{ao-sessions-mode-map}"
  (setq tabulated-list-format
        [("id" 14 t) ("host" 8 t) ("state" 18 t) ("activity" 13 t)
         ("PR" 26 nil) ("age" 5 nil)])
  (setq tabulated-list-padding 1)
  (setq tabulated-list-entries #'ao--entries)
  ;; The column titles go above the rows; the header line says how aod is.
  (setq-local tabulated-list-use-header-line nil)
  (tabulated-list-init-header))

(defun ao--header-line ()
  "What the sessions buffer says above its table."
  (concat
   (if (ao-connected-p)
       (format " aod: %d sessions, %d need you.  "
               (length ao--sessions) (ao-needs-human-count))
     (format " Not connected: %s (retrying).  " (or ao--last-problem "")))
   "RET worktree, s send, k kill, r PR, h history, g refresh"))

(defun ao--update-views ()
  "Redraw the sessions buffer and the mode lines."
  (let ((buffer (get-buffer "*ao sessions*")))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (tabulated-list-print t)
        (setq header-line-format (ao--header-line)))))
  (force-mode-line-update t))

;;;###autoload
(defun ao-sessions ()
  "Show aod's sessions in a buffer that stays up to date."
  (interactive)
  (let ((buffer (get-buffer-create "*ao sessions*")))
    (with-current-buffer buffer
      (unless (derived-mode-p 'ao-sessions-mode) (ao-sessions-mode)))
    (condition-case err
        (progn (ao--ensure-connection) (ao-sessions-refresh))
      (ao-error
       (setq ao--last-problem (error-message-string err))
       (message "ao: %s" ao--last-problem)
       (ao--schedule-reconnect)))
    (ao--update-views)
    (switch-to-buffer buffer)
    buffer))

(defun ao--session (id)
  "The session ID as last listed, or nil."
  (seq-find (lambda (s) (equal (alist-get 'id s) id)) ao--sessions))

(defun ao--read-session (prompt)
  "The session at point in the sessions buffer, else one read with PROMPT."
  (or (and (derived-mode-p 'ao-sessions-mode) (tabulated-list-get-id))
      (completing-read prompt (mapcar (lambda (s) (alist-get 'id s)) ao--sessions)
                       nil nil)))

;;;; Commands

(defun ao-open-worktree (session)
  "Open the worktree of SESSION (dired in it); return its buffer."
  (interactive (list (ao--read-session "Open the worktree of session: ")))
  (let* ((s (or (ao--session session) (ao-call "session.get" `((id . ,session)))))
         (workspace (alist-get 'workspace s))
         (host (alist-get 'host s)))
    (cond ((and host (not (string-empty-p host)))
           (user-error "%s runs on host %s; its worktree is there: %s" session host workspace))
          ((or (null workspace) (not (file-directory-p workspace)))
           (user-error "%s has no worktree here%s" session
                       (if workspace (format " (%s is gone)" workspace) "")))
          (t (find-file (file-name-as-directory workspace))))))

(defun ao-send (session text)
  "Send TEXT to the agent of SESSION; return aod's answer (id, seq, queued)."
  (interactive (let ((id (ao--read-session "Send to session: ")))
                 (list id (read-string (format "Message to %s: " id)))))
  (when (string-empty-p text) (user-error "Nothing to send"))
  (let ((result (ao-call "session.send" `((id . ,session) (message . ,text)))))
    (message "Sent to %s (message %s; %s waiting to be delivered)" session
             (alist-get 'seq result) (alist-get 'queued result))
    result))

(defvar-local ao--send-target nil "The session the message buffer is for.")
(defvar-local ao--send-return nil "The window configuration to go back to.")

(defvar ao-send-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'ao-send-commit)
    (define-key map (kbd "C-c C-k") #'ao-send-cancel)
    map)
  "Keys of `ao-send-mode'.")

(define-derived-mode ao-send-mode text-mode "aod message"
  "A message to a session's agent: C-c C-c sends it, C-c C-k drops it.
\\{ao-send-mode-map}")

(defun ao-send-compose (session)
  "Write a message to SESSION in a buffer of its own (C-c C-c sends it)."
  (interactive (list (ao--read-session "Send to session: ")))
  (let ((config (current-window-configuration))
        (buffer (get-buffer-create (format "*ao message to %s*" session))))
    (with-current-buffer buffer
      (ao-send-mode)
      (setq ao--send-target session ao--send-return config)
      (setq header-line-format
            (format " To %s.  C-c C-c sends, C-c C-k drops." session)))
    (pop-to-buffer buffer)
    buffer))

(defun ao-send-commit ()
  "Send the message buffer's text to its session."
  (interactive)
  (unless ao--send-target (user-error "Not a message buffer of ao"))
  (let ((text (buffer-substring-no-properties (point-min) (point-max)))
        (config ao--send-return)
        (buffer (current-buffer)))
    (prog1 (ao-send ao--send-target text)
      (kill-buffer buffer)
      (when (window-configuration-p config)
        (set-window-configuration config)))))

(defun ao-send-cancel ()
  "Drop the message."
  (interactive)
  (let ((config ao--send-return))
    (kill-buffer (current-buffer))
    (when (window-configuration-p config) (set-window-configuration config))))

(defun ao-kill (session &optional no-confirm)
  "Kill SESSION's agent (its worktree stays); NO-CONFIRM skips the question.
Returns the session as aod has it then."
  (interactive (list (ao--read-session "Kill session: ") nil))
  (when (or no-confirm
            (yes-or-no-p (format "Kill %s? Its agent stops; the worktree stays. " session)))
    (let ((result (ao-call "session.kill" `((id . ,session)))))
      (message "Killed %s" session)
      (ao--refresh-async)
      result)))

(defun ao--lines (text indent)
  "TEXT with each line indented by INDENT spaces."
  (let ((pad (make-string indent ?\s)))
    (mapconcat (lambda (line) (concat pad line))
               (split-string (string-trim-right (ao--text text)) "\n") "\n")))

(defun ao-format-pr (session pr)
  "PR (pr.show's `pr') of SESSION as text for a person."
  (if (null pr)
      (format "%s has no PR yet.\n" session)
    (let-alist pr
      (concat
       (format "PR #%s of %s [%s]%s %s\n" .number session .state
               (if .draft " (draft)" "") (ao--text .url))
       (format "checks %s   review %s   mergeable %s\n"
               (ao--text .checks) (ao--text .review) (ao--text .mergeable))
       (if .failing
           (concat (format "\nFailing checks (%d):\n" (length .failing))
                   (mapconcat
                    (lambda (c)
                      (let-alist c
                        (concat (format "  %s (%s) %s\n" .name (ao--text .conclusion) (ao--text .url))
                                (if (and .summary (not (string-empty-p .summary)))
                                    (concat (ao--lines .summary 4) "\n") "")
                                (if (and .log_excerpt (not (string-empty-p .log_excerpt)))
                                    (concat (ao--lines .log_excerpt 4) "\n") ""))))
                    .failing ""))
         "")
       (let ((open (seq-remove (lambda (c) (alist-get 'resolved c)) .review_comments)))
         (if open
             (concat (format "\nUnresolved review comments (%d):\n" (length open))
                     (mapconcat
                      (lambda (c)
                        (let-alist c
                          (concat (format "  %s%s (%s)\n" (ao--text .author)
                                          (if .path (format " on %s:%s" .path (ao--text .line)) "")
                                          (ao--text .created_at))
                                  (ao--lines .body 4) "\n")))
                      open ""))
           ""))
       (if .blockers
           (format "\nNot ready to merge: %s\n" (string-join .blockers "; "))
         "\nReady to merge.\n")))))

(defun ao-pr-show (session)
  "Show the readiness of SESSION's PR; return the buffer.
Failing checks with their log excerpts, unresolved comments, and what
keeps it from merging."
  (interactive (list (ao--read-session "PR of session: ")))
  (let* ((result (ao-call "pr.show" `((id . ,session))))
         (text (ao-format-pr session (alist-get 'pr result)))
         (name (format "*ao PR %s*" session)))
    (with-help-window name (princ text))
    (get-buffer name)))

(defun ao--value (value)
  "VALUE (parsed JSON) as short text."
  (cond ((null value) "null")
        ((eq value t) "true")
        ((stringp value) (if (string-match-p "[\s\n]" value) (prin1-to-string value) value))
        ((numberp value) (number-to-string value))
        ((and (consp value) (consp (car value)) (symbolp (caar value)))
         (concat "{" (mapconcat (lambda (kv) (format "%s: %s" (car kv) (ao--value (cdr kv))))
                                value ", ")
                 "}"))
        ((listp value) (concat "[" (mapconcat #'ao--value value ", ") "]"))
        (t (format "%s" value))))

(defun ao-format-history (session result)
  "RESULT of session.history for SESSION as text."
  (concat
   (format "History of %s%s\n\n" session
           (if (alist-get 'archived result) " (archived)" ""))
   (mapconcat
    (lambda (entry)
      (format "%s  %-20s %s" (ao--text (alist-get 'time entry)) (ao--text (alist-get 'kind entry))
              (mapconcat (lambda (kv) (format "%s=%s" (car kv) (ao--value (cdr kv))))
                         (seq-remove (lambda (kv) (memq (car kv) '(time kind))) entry)
                         " ")))
    (alist-get 'entries result) "\n")
   "\n"))

(defun ao-history (session &optional lines)
  "Show the history (journal) of SESSION, its last LINES entries.
Returns the buffer."
  (interactive (list (ao--read-session "History of session: ") nil))
  (let* ((result (ao-call "session.history" `((id . ,session) (lines . ,(or lines 100)))))
         (name (format "*ao history %s*" session)))
    (with-help-window name (princ (ao-format-history session result)))
    (get-buffer name)))

(provide 'ao)

;;; ao.el ends here
