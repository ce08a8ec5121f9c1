"""English game-chat lines for the moderation corpus, written by hand for
Parley (Apache-2.0) from how players talk; no generator or word list was
used. build.py lays them out in time, rooms and users."""

# Ordinary chat, including traps: words that hold a listed word
# (Scunthorpe), spaced letters that are whole words ("go ok"), numbers,
# dates, times, dog breeds, places and history.
BENIGN = [
    "gg wp", "gg", "ggs all", "glhf", "gl hf everyone", "ty", "tyty", "np", "nice one",
    "wp mate", "rematch?", "one more?", "brb", "back", "afk 2 min, getting water", "lol",
    "lmao that was close", "haha", "rofl", "omg", "nice shot", "nice save", "clutch",
    "what a play", "that was insane", "ez clap", "close game", "noob mistake by me sorry",
    "my bad", "mb", "sry lag", "lag spike again", "server is laggy tonight", "ping 180 rn",
    "go ok", "go ok go", "ok go", "ok ok go go", "go go go", "ok i go mid", "i go top ok",
    "go ok then", "k go", "so do my", "push it", "he's hit", "is it ok", "i s it",
    "we go b ok", "go b ok?", "a b c d", "u ok?", "r u ok", "go ok i follow",
    "anyone selling iron ore?", "wts 20 leather", "wtb mana potions", "trade?",
    "lf2m for dungeon", "lfg raid tonight 9pm", "need healer", "need 1 tank", "inv pls",
    "invite me pls", "party full", "join discord for raid times", "who wants to duo",
    "level 69 finally", "lvl 88 now", "reached level 420 lol", "im level 18",
    "see you at 18:30", "raid at 21:00 server time", "event ends 2026-12-24",
    "tournament on 12/18", "meet at 6pm", "back at 7", "it's 3am here",
    "my shih tzu is barking", "we got a cocker spaniel puppy", "my dog is a pug",
    "scunthorpe united won", "i live near scunthorpe", "penistone is a town in yorkshire",
    "middlesex county", "essex is nice", "sussex", "lightwater", "cockburn street",
    "the battle of hastings 1066", "dickens novels are long", "moby dick", "cocktail party",
    "peacock skin looks sick", "hancock quest", "shuttlecock", "cockpit view is better",
    "assassin build", "assassinate the boss first", "class change quest", "pass me the ammo",
    "glass cannon build", "bass boost on", "grass biome", "compass points north",
    "embarrassing loss", "therapist npc", "analysis of the meta", "analyst desk",
    "canal map", "title screen", "hell yeah", "what the heck", "damn that was close",
    "crap i died", "dang it", "shoot missed", "oh snap", "frick", "fudge",
    "the hitman dlc", "shitake mushrooms give +5 hp", "homonym", "homework first then raid",
    "sextant item is rare", "sextet of bosses", "document this", "button mashing",
    "butter sword", "butterfly skin", "but it works", "buttons not working",
    "raccoon pet", "cocoon stage", "tycoon mode", "maine coon cat in my house",
    "spice rack", "spicy build", "skunk cabbage", "bigger boat", "snigger lol",
    "niger river map", "nigeria server?", "the country niger", "kyle is typing",
    "grape farm", "drape", "therapy", "scrap metal",
    "hello there", "hi all", "hey", "sup", "yo", "morning", "good night all", "gn",
    "cya tomorrow", "see ya", "bye", "welcome back", "congrats on the win",
    "who's streaming today", "new patch is out", "patch notes are huge", "nerf the sniper",
    "buff healers pls", "meta is boring", "tier list?", "what build u using",
    "crit build or tank?", "need more dps", "heal me", "rez pls", "thanks for the rez",
    "drop the flag", "cap b", "defend a", "rotate", "fall back", "push now", "wait for ult",
    "ult ready", "i have no mana", "oom", "cd 20s", "swap lanes?", "mid missing",
    "enemy jungler top", "ward dragon", "baron now?", "dragon soon", "nice dragon",
    "that boss has 3 phases", "phase 2 is hard", "use fire res potion", "stack up",
    "spread out", "don't stand in the fire", "kill the adds first", "i'll tank",
    "kill him he's low", "kill the healer", "i'll kill you in the duel lol", "you killed me",
    "killing spree", "kill streak 12", "shot him in the head", "headshot!",
    "i'm dying", "dead", "revive me", "respawn in 10", "camping spawn again smh",
    "stop camping", "campers everywhere", "nice try", "almost", "unlucky", "so close",
    "next time", "ez game", "hard carry", "carried lol", "thx for carry", "gg go next",
    "report afk pls", "he's afk", "anyone from germany?", "brazil server?", "eu or na?",
    "na east", "servers down?", "maintenance at 10", "what time is reset", "daily done",
    "weekly quest is annoying", "grinding xp", "need 3k gold", "selling my old sword",
    "sold it", "auction house prices are crazy", "craft this for me?", "mats?",
    "what does this item do", "how do i get the mount", "where is the blacksmith",
    "follow me", "on my way", "omw", "coming", "wait for me", "go without me",
    "i'm new, any tips?", "read the quest log", "press tab for map", "check settings",
    "turn off vsync", "fps drops in the city", "my pc is a potato", "new gpu finally",
    "controller or kb?", "keyboard for sure", "who's the best player here",
    "you're cracked", "that was dirty lol", "sick flick", "insane aim", "nice aim bro",
    "i love this game", "this game is so fun", "hate this map", "this map sucks",
    "i suck at this", "i'm so bad today", "bad luck", "rng hates me", "rip",
    "F", "f in chat", "pog", "poggers", "kekw", "monkaS", "sadge", "based", "cope",
    "skill issue", "touch grass", "ratio", "bruh", "bro what", "sheesh", "no cap",
    "fr fr", "deadass", "lowkey op", "highkey broken", "mid tbh", "it's giving tank",
    "w team", "L team", "big W", "huge L", "we ball", "let him cook", "he's cooking",
    "a s s e m b l e the team", "let's go team", "go go go!!!", "yesss", "noooo",
    "whyyyy", "sooo close", "niiiice", "gooood game", "ok", "okk", "okay", "kk",
    "sure", "yep", "nope", "maybe", "idk", "idc", "imo", "tbh", "ngl", "btw", "afaik",
    "The weather is nice in Seoul today", "just got home from work", "dinner then games",
    "my cat walked on the keyboard", "brb dog needs a walk", "happy birthday Mia!",
    "happy new year", "merry christmas all", "see you in 2027", "exam tomorrow rip",
    "i have school at 8", "mom says bedtime lol", "one last game", "last game for real",
]

# Short bursts by one user (flood): varied lines, so it is not repetition.
FLOOD = [
    "hello", "anyone", "here", "hello??", "answer me", "hey", "hey hey", "look",
    "look at this", "helloooo", "why no one talk", "yo", "yoo", "talk", "pls", "hi",
    "hi hi", "respond", "someone", "wake up",
]

# Toxic lines, with the evasions players use: spaced, dotted, leet,
# stretched, asterisked. Each is one incident by one user.
TOXIC = [
    "you are a fucking idiot", "shut up you stupid bitch", "kys", "kill yourself noob",
    "go kill yourself", "f u c k you", "f.u.c.k off", "fuuuuuck you", "fvck you",
    "f*ck off", "f**k this team", "sh1t team", "s h i t player", "shiiiit healer",
    "you're a c u n t", "c.u.n.t", "cvnt", "what a b1tch", "b i t c h", "biiitch",
    "stupid n1gger", "n i g g e r", "n.i.g.g.e.r", "f a g g o t", "f4gg0t", "fagg0t",
    "r e t a r d", "retaaard", "r3tard", "you re tard", "a s s h o l e", "a$$hole",
    "assh0le", "d1ckhead", "d i c k h e a d", "w e i n e r", "moron go uninstall",
    "you braindead idiot", "m o r o n", "idi0t", "i.d.i.o.t", "hope you die",
    "die in a fire", "mother f u c k e r", "motherfucker", "p u s s y", "pu$$y",
    "ch1nk", "g o o k", "sp1c", "k.y.s", "k y s", "go hang yourself", "bastard",
    "son of a bitch", "dumbass", "dumb4ss", "wanker", "w4nker", "twat", "tw@t",
]

# Lines a chain message wave copies (40+ characters, nothing to sell).
CHAINS = [
    "copy this message to every room or your account gets deleted tomorrow",
    "if you dont paste this in 5 chats you will lose all your items tonight",
    "the devs said accounts without this message in chat will be banned at midnight",
    "send this to 10 rooms and you get a free legendary from the admins ok",
    "warning a hacker named xXdarkXx is stealing accounts, pass this on to everyone",
    "repost this in every channel so the devs know we want the old map back",
]

# Raid lines: first-seen users in one room, within seconds.
RAIDS = [
    "RAID RAID RAID", "this server is ours now", "lmaooo raided", "🚀🚀🚀 invaded",
    "we run this room", "xD raid squad here",
]

# Adverts pasted across rooms (spam), with a link.
SPAM = [
    "cheap gold and skins, fast delivery, visit goldshop-4u.biz now",
    "free vbucks giveaway claim your code at free-vb.click",
    "selling boosting service cheap, visit rank-up-fast.ru",
    "buy cheap gems here promo code PARLEY visit gems-cheap.top",
]

# One user repeating one line (repetition).
REPEATS = [
    "why is nobody healing", "pls invite me", "give me your sword", "admin help",
]
